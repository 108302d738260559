/**
 * The workflow's Aggregate step: after a stage's Map, either the next stage or the job's end
 * (the final answer, then `closeJob`); also the workflow's failure path (`failure` set).
 */
import { ProviderRejectedError } from '#shared/domain/errors';
import { synthesizerSystemPrompt } from '#shared/domain/prompts';
import { type StepRecord, TERMINAL_STATUSES } from '#shared/domain/types';
import type { ItemStore } from '#shared/ports/item-store';
import type { AgentRecord, JobRecord, JobRef, SubtaskResult } from '#shared/ports/job-store';
import type { LlmClient } from '#shared/ports/llm';
import type { LeaseReserver } from '#shared/ports/rate-limiter';
import {
  type ClosedJob,
  type CloseJobDeps,
  causeMessage,
  closeJob,
  type JobEnding,
  settleJob,
  tallyAgents,
} from './close-job';
import { type LeaseAhead, leaseAhead } from './lease-ahead';
import { modelStep } from './model-step';
import { hasStageLeft, type NextStageOutput, planNextStage } from './next-stage';

export interface AggregateInput extends JobRef {
  stage?: number;
  /** Set by the workflow's failure path: the error a state caught. */
  failure?: { Error?: string; Cause?: string };
  /** The terminal state of the failure path: FAILED (default), or CANCELLED for a stopped execution. */
  outcome?: 'FAILED' | 'CANCELLED';
}

/** The input of the failure path (`failure` set), which closes the job without a model call. */
export interface FailureInput extends AggregateInput {
  failure: { Error?: string; Cause?: string };
}

export type AggregateOutput = ClosedJob;

export interface AggregateDeps extends CloseJobDeps {
  llm: LlmClient;
  /** Where a distributed next stage's assignments go (as for the plan). */
  items?: ItemStore;
  /** The synthesizer's limiter lease, taken beside the load (the shared limiter, unless it is off). */
  leases?: LeaseReserver;
}

/** How many result lines the synthesis prompt carries at most. */
export const SYNTHESIS_MAX_LINES = 200;

/** The synthesis's output budget (tokens). */
const SYNTHESIS_MAX_TOKENS = 1500;

/**
 * Ends a stage: the next stage, or the job's terminal state.
 *
 * 1. load the job and, at the same time, the sub-agents' outcomes from DynamoDB (each recorded
 *    its own; one the Map caught failing was recorded by the workflow's SubagentFailed step)
 * 2. a job already terminal is left as it is (a retried aggregate changes nothing but makes sure
 *    the job was settled)
 * 3. a multi-stage job with subtasks still unanswered and stages left plans the next stage
 *    (`planNextStage`) and returns its Map input (status NEXT_STAGE; the workflow loops back)
 * 4. on the failure path, or when no sub-agent completed, the job fails (or, on the failure path
 *    with `outcome` CANCELLED, is cancelled) with the reason
 * 5. otherwise synthesize the final answer with one model call (an orchestrator step), its
 *    limiter lease taken beside the load of step 1 (given back when there is no synthesis)
 * 6. close the job (`closeJob`): scores, settlement, terminal state; the steps recorded so far are
 *    read while the synthesizer answers (once the call is sent), so the close reads its own alone
 *
 * The failure path makes no model call, so it takes no LLM client.
 */
export function aggregateJob(deps: CloseJobDeps, input: FailureInput): Promise<AggregateOutput>;
export function aggregateJob(
  deps: AggregateDeps,
  input: AggregateInput,
): Promise<AggregateOutput | NextStageOutput>;
export async function aggregateJob(
  deps: CloseJobDeps & Partial<Pick<AggregateDeps, 'llm' | 'items' | 'leases'>>,
  input: AggregateInput,
): Promise<AggregateOutput | NextStageOutput> {
  const ref: JobRef = { tenantId: input.tenantId, jobId: input.jobId };
  const lease =
    input.stage === undefined || input.failure || !deps.leases || !deps.llm
      ? undefined
      : leaseAhead(deps.leases, {
          role: 'orchestrator',
          tenantId: ref.tenantId,
          promptChars: synthesizerSystemPrompt.length,
          maxTokens: SYNTHESIS_MAX_TOKENS,
        });
  try {
    return await aggregateStage(deps, input, lease);
  } finally {
    await lease?.unused();
  }
}

async function aggregateStage(
  deps: CloseJobDeps & Partial<Pick<AggregateDeps, 'llm' | 'items'>>,
  input: AggregateInput,
  lease: LeaseAhead | undefined,
): Promise<AggregateOutput | NextStageOutput> {
  const ref: JobRef = { tenantId: input.tenantId, jobId: input.jobId };
  // The synthesizer's attempt is counted beside the load below (a stage that goes on, or a job found
  // terminal, leaves a count with no step: attempts only need to grow).
  const synthesizerAttempt =
    input.stage === undefined || input.failure
      ? undefined
      : deps.steps.nextAttempt(ref, input.stage, 'main', 'synthesizer');
  synthesizerAttempt?.catch(() => undefined); // awaited by the synthesis, if there is one
  // The outcomes load with the job (one round trip before the synthesis, not two); a job found
  // terminal (a retried Aggregate) did not need them. The subtasks are waited for only where they
  // are needed: a next stage, and the scores after the synthesis (the prompt takes their count
  // from the plan).
  const loading = Promise.all([
    deps.store.getJob(ref),
    deps.steps.listAgents(ref),
    deps.store.listResults(ref),
  ]);
  // Asked after the reads the synthesis waits for, so the table serves those first.
  const listed = deps.store.listSubtasks(ref);
  listed.catch(() => undefined); // awaited below, or not at all when the job is not found
  const [job, agents, results] = await loading;
  if (!job) return { jobId: input.jobId, status: 'FAILED', error: `job ${input.jobId} not found` };
  if (TERMINAL_STATUSES.includes(job.status)) {
    // A retry after the terminal state was stored: make sure the settlement happened too.
    await settleJob(deps, job);
    return { jobId: job.jobId, status: job.status, ...(job.error ? { error: job.error } : {}) };
  }
  const stage = input.stage ?? job.plan?.stage ?? 1;
  if (!input.failure && hasStageLeft(job, stage)) {
    const ids = (await listed).map((s) => s.id);
    const next = await planNextStage(deps, ref, job, stage, ids, results);
    if (next) return next;
  }
  const count = job.plan?.subtasks ?? (await listed).length;
  // The steps so far load once the synthesis is on its way (the table is idle while the model
  // answers): the close then reads the synthesizer's own alone, not every step after the answer.
  const preload: { steps?: Promise<StepRecord[]> } = {};
  const sent = () => {
    if (preload.steps) return;
    preload.steps = deps.steps.listSteps(ref);
    preload.steps.catch(() => undefined); // awaited by the close, which reads them all if this failed
  };
  const ending = await endingOf(deps, {
    input,
    job,
    stage,
    agents,
    results,
    subtasks: count,
    sent,
    ...(synthesizerAttempt ? { attempt: synthesizerAttempt } : {}),
    ...(lease ? { lease } : {}),
  });
  const steps = preload.steps && {
    earlier: preload.steps,
    after: { stage, role: 'main' as const, agentId: 'synthesizer' },
  };
  return closeJob(deps, job, ending, {
    agents,
    results,
    subtasks: await listed,
    ...(steps ? { steps } : {}),
  });
}

interface StageEnd {
  input: AggregateInput;
  job: JobRecord;
  stage: number;
  agents: readonly AgentRecord[];
  results: readonly SubtaskResult[];
  subtasks: number;
  /** The synthesizer's attempt, counted with the load; counted by the synthesis when absent. */
  attempt?: Promise<number>;
  /** The synthesizer's limiter lease, taken with the load. */
  lease?: LeaseAhead;
  /** Told when the synthesis call goes to the provider. */
  sent?: () => void;
}

/** How the job ends: the failure path's reason, every sub-agent failed, or the synthesized answer. */
async function endingOf(deps: CloseJobDeps & { llm?: LlmClient }, end: StageEnd): Promise<JobEnding> {
  const { input, job } = end;
  if (input.failure) {
    const failedAs = input.outcome === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
    return { error: causeMessage(input.failure), failedAs, failurePath: true };
  }
  const { spawned, completed, failedAgents } = tallyAgents(job, end.agents);
  if (spawned > 0 && completed === 0) {
    const first = failedAgents[0]?.error ?? 'unknown';
    return { error: `all ${spawned} sub-agents failed; first error: ${first}`, failurePath: false };
  }
  // Unreachable through the overloads: only the failure path may come without an LLM client.
  if (!deps.llm) throw new TypeError('aggregateJob needs an LLM client outside the failure path');
  try {
    const answer = await synthesize({ ...deps, llm: deps.llm }, end);
    return { answer, failurePath: false };
  } catch (e) {
    if (!(e instanceof ProviderRejectedError)) throw e;
    return { error: `synthesis failed: ${e.message}`, failurePath: false };
  }
}

async function synthesize(deps: CloseJobDeps & { llm: LlmClient }, end: StageEnd): Promise<string> {
  const { job, stage, results } = end;
  const ref: JobRef = { tenantId: job.tenantId, jobId: job.jobId };
  const attempt = await (end.attempt ?? deps.steps.nextAttempt(ref, stage, 'main', 'synthesizer'));
  const response = await modelStep(
    deps,
    { ref, stage, role: 'main', agentId: 'synthesizer', step: 1, attempt },
    {
      ...(end.lease ? { reserved: end.lease.take() } : {}),
      ...(end.sent ? { sent: end.sent } : {}),
      messages: [
        { role: 'system', content: synthesizerSystemPrompt },
        { role: 'user', content: synthesisPrompt(job.request.task, results, end.subtasks) },
      ],
      maxTokens: SYNTHESIS_MAX_TOKENS,
    },
  );
  await deps.steps.finishAgent(
    ref,
    { stage, agentId: 'synthesizer', status: 'SUCCEEDED', attempt, stepCount: 1, subtaskIds: [] },
    'main',
  );
  const text = response.content ?? '';
  return response.finishReason === 'length'
    ? `${text}\n[cut: the answer reached the limit of ${SYNTHESIS_MAX_TOKENS} output tokens (finish_reason length)]`
    : text;
}

/**
 * The synthesizer's request: the task, then the stage's results in subtask order, at most
 * {@link SYNTHESIS_MAX_LINES} of them, and a tally of all when there are more. The peers bench
 * sends its frameworks' syntheses through it too, so every framework asks the model the same.
 */
export function synthesisPrompt(task: string, results: readonly SubtaskResult[], subtasks: number): string {
  const lines = results
    .slice()
    .sort((a, b) => a.subtaskId.localeCompare(b.subtaskId))
    .slice(0, SYNTHESIS_MAX_LINES)
    .map((r) =>
      r.status === 'ANSWERED'
        ? `- ${r.subtaskId}: ${r.verdict ? `${r.verdict}${r.reasons?.length ? ` (${r.reasons.join('; ')})` : ''}` : (r.answer ?? '').slice(0, 300)}`
        : `- ${r.subtaskId}: no answer (${r.error ?? 'failed'})`,
    );
  const more =
    results.length > SYNTHESIS_MAX_LINES
      ? `\n… and ${results.length - SYNTHESIS_MAX_LINES} more results.\n${tallyLine(results)}`
      : '';
  return `Task: ${task}\n\nResults of ${results.length} of ${subtasks} subtasks:\n${lines.join('\n')}${more}`;
}

/** How many reasons the tally of a long list names. */
const TALLY_REASONS = 5;

/**
 * One line that counts every result of a stage, for a synthesis prompt that lists only the first
 * {@link SYNTHESIS_MAX_LINES}: answered results by verdict (or as answered, without one), those
 * with no answer, and the most frequent reasons. Without it the synthesizer of 1,000 results sees
 * 200 and can count only those.
 *
 * @example
 * tallyLine(results); // 'All 1000 results: compliant 470 · non_compliant 530 · no answer 0. Most frequent reasons: R2: … (140×); …'
 */
export function tallyLine(results: readonly SubtaskResult[]): string {
  const counts = new Map<string, number>();
  const reasons = new Map<string, number>();
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  let failed = 0;
  for (const r of results) {
    if (r.status !== 'ANSWERED') {
      failed += 1;
      continue;
    }
    add(counts, r.verdict ?? 'answered');
    for (const reason of r.reasons ?? []) add(reasons, reason);
  }
  const byCount = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const parts = [...byCount(counts).map(([k, n]) => `${k} ${n}`), `no answer ${failed}`];
  const top = byCount(reasons)
    .slice(0, TALLY_REASONS)
    .map(([reason, n]) => `${reason} (${n}×)`);
  return `All ${results.length} results: ${parts.join(' · ')}.${top.length > 0 ? ` Most frequent reasons: ${top.join('; ')}.` : ''}`;
}
