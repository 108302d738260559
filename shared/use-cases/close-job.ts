/**
 * Closing a job: its terminal state (SUCCEEDED, FAILED or CANCELLED) with measures, answer and
 * reason, and its settlement. The workflow's Aggregate step closes a job after its last stage, and
 * the failure path, a tenant's cancel and an execution that ended abnormally close it directly.
 */

import { compareSteps, finishedAtTime, KIMI_K25_PRICES } from '#shared/domain/measures';
import type { JobMetrics, JobStatus, Role, StepRecord, Subtask } from '#shared/domain/types';
import type {
  AgentRecord,
  JobRecord,
  JobRef,
  JobResult,
  JobStore,
  StepRecorder,
  SubtaskResult,
} from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import { type ScoreJobDeps, scoreJob, summarize } from './score-job';

/** What closing a job needs on every path; the failure path needs nothing more (no model call). */
export interface CloseJobDeps extends ScoreJobDeps {
  store: JobStore;
  steps: StepRecorder;
  /** Told once per job, when this call stored its terminal state (the alarm metrics hang here). */
  onFinished?: (ref: JobRef, metrics: JobMetrics) => void;
  /** Settles the job's budget and records its usage once it is terminal. */
  ledger?: BudgetLedger;
}

/** A closed job as the closing call leaves it (the stored state when another call closed it first). */
export interface ClosedJob {
  jobId: string;
  status: JobStatus;
  error?: string;
}

/** How the job ends. */
export interface JobEnding {
  /** Why the job failed; none for a job that succeeded. */
  error?: string;
  /** The status a failed job is stored with: FAILED (default), or CANCELLED for a stopped one. */
  failedAs?: 'FAILED' | 'CANCELLED';
  /** The orchestrator's final answer ('' when there is none). */
  answer?: string;
  /** The failure path: the job was not run to its end, so its policy does not learn from it. */
  failurePath: boolean;
}

/** The job's sub-agents, results and subtasks, as the caller read them (read here when absent). */
export interface JobRecords {
  agents: readonly AgentRecord[];
  results: readonly SubtaskResult[];
  subtasks: readonly Subtask[];
  /**
   * The steps read before the last agent's (`after`: the synthesizer) were recorded: the close then
   * reads that agent's alone. Without them, or when that read failed, it reads every step.
   */
  steps?: { earlier: Promise<StepRecord[]>; after: { stage: number; role: Role; agentId: string } };
}

/** The message inside a Step Functions error Cause (a Lambda's `{errorMessage}` JSON, or plain text). */
export function causeMessage(failure: { Error?: string; Cause?: string }): string {
  const cause = failure.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) return `${failure.Error ?? 'Error'}: ${parsed.errorMessage}`;
  } catch {
    // not JSON: a plain message
  }
  return `${failure.Error ?? 'Error'}${cause ? `: ${cause}` : ''}`;
}

/** Charges a terminal job's cost and records its usage (idempotent; a no-op without a ledger). */
export async function settleJob(
  deps: Pick<CloseJobDeps, 'ledger' | 'steps' | 'prices'>,
  job: JobRecord,
  steps?: readonly StepRecord[],
  awsCostUsd: number | undefined = job.metrics?.awsCostUsd,
): Promise<void> {
  if (!deps.ledger) return;
  await deps.ledger.settle(
    job,
    job.acceptedAt,
    steps ?? (await deps.steps.listSteps(job)),
    deps.prices ?? KIMI_K25_PRICES,
    { awsCostUsd },
  );
}

/** The sub-agents the job spawned over its stages, those that completed, and those that failed. */
export function tallyAgents(job: JobRecord, agents: readonly AgentRecord[]) {
  return {
    spawned: job.plan ? (job.plan.earlierAgents ?? 0) + job.plan.agents : agents.length,
    completed: agents.filter((a) => a.status === 'SUCCEEDED').length,
    failedAgents: agents
      .filter((a) => a.status === 'FAILED')
      .map((a) => ({ agentId: a.agentId, error: a.error ?? 'failed' })),
  };
}

/**
 * Closes a job that is not terminal yet.
 *
 * 1. read its sub-agents, results and subtasks (unless the caller has them) and its steps
 * 2. score it (`scoreJob`): measures, weights, TOGGLE, the policy's lesson
 * 3. settle its cost (idempotent, also when another call closes it at once), before the terminal
 *    state is visible: whoever sees the job ended sees its money settled (no reservation left)
 * 4. store the terminal state once (a second closing call finds it stored and changes nothing),
 *    finished as it is stored: the wall-clock runs from the accepted request to this write
 * 5. tell `onFinished` when this call stored it
 *
 * @example
 * await closeJob({ store, steps }, job, { error: 'cancelled by the tenant', failedAs: 'CANCELLED', failurePath: true });
 */
export async function closeJob(
  deps: CloseJobDeps,
  job: JobRecord,
  ending: JobEnding,
  records?: JobRecords,
): Promise<ClosedJob> {
  const ref: JobRef = { tenantId: job.tenantId, jobId: job.jobId };
  const { agents, results, subtasks } = records ?? (await readRecords(deps, ref));
  const { spawned, completed, failedAgents } = tallyAgents(job, agents);
  const summary = summarize(results, subtasks);
  const steps = await stepsOf(deps, ref, records?.steps);
  const scored = await scoreJob(deps, {
    job,
    steps,
    spawned,
    completed,
    summary,
    subtasks: subtasks.length,
    finishedAt: new Date().toISOString(),
    learn: !ending.failurePath,
  });
  const result: JobResult = {
    answer: ending.answer ?? '',
    summary,
    ...(failedAgents.length > 0 ? { failedAgents: failedAgents.slice(0, 100) } : {}),
  };
  const { error } = ending;
  const status: JobStatus = error ? (ending.failedAs ?? 'FAILED') : 'SUCCEEDED';
  await settleJob(deps, job, steps, scored.awsCostUsd);
  // The wall-clock runs to the stored result: the reads, the scoring and the settlement before this
  // write are time the tenant waits for its answer too.
  const finishedAt = new Date().toISOString();
  const metrics = finishedAtTime(scored, job.acceptedAt, finishedAt);
  const stored = await deps.store.finishJob(ref, {
    status,
    finishedAt,
    metrics,
    result,
    ...(error ? { error } : {}),
  });
  if (!stored) {
    const current = await deps.store.getJob(ref);
    return {
      jobId: job.jobId,
      status: current?.status ?? status,
      ...(current?.error ? { error: current.error } : {}),
    };
  }
  deps.onFinished?.(ref, metrics);
  return { jobId: job.jobId, status, ...(error ? { error } : {}) };
}

/** Every step of the job: those read earlier with the last agent's read now (its own replacing any it had then), else all read now. */
async function stepsOf(deps: CloseJobDeps, ref: JobRef, known: JobRecords['steps']): Promise<StepRecord[]> {
  if (!known) return deps.steps.listSteps(ref);
  const { stage, role, agentId } = known.after;
  const [earlier, own] = await Promise.all([
    known.earlier.catch(() => undefined),
    deps.steps.listAgentSteps(ref, stage, role, agentId),
  ]);
  if (!earlier) return deps.steps.listSteps(ref);
  const isOwn = (s: StepRecord) => s.stage === stage && s.role === role && s.agentId === agentId;
  return [...earlier.filter((s) => !isOwn(s)), ...own].sort(compareSteps);
}

async function readRecords(deps: CloseJobDeps, ref: JobRef): Promise<JobRecords> {
  const [agents, results, subtasks] = await Promise.all([
    deps.steps.listAgents(ref),
    deps.store.listResults(ref),
    deps.store.listSubtasks(ref),
  ]);
  return { agents, results, subtasks };
}
