import { NotFoundError, StateConflictError } from '#shared/domain/errors';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import type { JobRecord, JobRef, JobStore, StepRecorder } from '#shared/ports/job-store';
import type { WorkflowControl } from '#shared/ports/workflow';
import { closeEndedExecution } from './close-ended-execution';
import type { CloseJobDeps } from './close-job';

/** The reason stored on a job its tenant cancelled. */
export const CANCEL_REASON = 'cancelled by the tenant';

/** A tenant's job; another tenant's job is not found, exactly like one that does not exist. */
export async function requireJob(store: JobStore, ref: JobRef): Promise<JobRecord> {
  const job = await store.getJob(ref);
  if (!job) throw new NotFoundError(`job ${ref.jobId} not found`);
  return job;
}

/** How far a job has come; present while it runs and once it has ended. */
export interface JobProgress {
  /** The stage being planned or run (1 until a multi-stage job plans another). */
  stage: number;
  /**
   * The sub-agents of every stage so far: `done` have ended (`failed` of them FAILED) out of the
   * `total` the plans spawned (0 before the first plan).
   */
  subagents: { done: number; failed: number; total: number };
  /** Step records so far (every model call of the planner, the sub-agents and the synthesizer). */
  steps: number;
}

/** A job's progress, counted from its agent and step records and its latest plan. */
export async function jobProgress(
  steps: Pick<StepRecorder, 'countProgress'>,
  job: JobRecord,
): Promise<JobProgress> {
  const counts = await steps.countProgress(job);
  const total = job.plan ? (job.plan.earlierAgents ?? 0) + job.plan.agents : 0;
  return {
    stage: job.plan?.stage ?? 1,
    subagents: { done: counts.succeeded + counts.failed, failed: counts.failed, total },
    steps: counts.steps,
  };
}

/** How long a cancel waits for the job's calls in flight to end before it answers (default 5 s). */
export const CANCEL_WAIT_MS = 5_000;

/**
 * Cancels a running job.
 *
 * 1. load the job (NotFoundError for another tenant's job); a finished one is a StateConflictError
 * 2. stop its model calls and its execution (the cloud's status-change event finds it closing)
 * 3. close the job as CANCELLED with the measures of every step taken and settle its cost; with
 *    model calls still in flight, the last of them closes it: wait up to `waitMs` for that, then
 *    answer the job as it is (still RUNNING when a call outlasts the wait)
 */
export async function cancelJob(
  deps: CloseJobDeps & { workflow: WorkflowControl },
  ref: JobRef,
  waitMs = CANCEL_WAIT_MS,
): Promise<JobRecord> {
  const job = await requireJob(deps.store, ref);
  if (TERMINAL_STATUSES.includes(job.status)) {
    throw new StateConflictError(`job ${job.jobId} has already ended: ${job.status}`);
  }
  const stop = { status: 'ABORTED', reason: CANCEL_REASON } as const;
  // Calls first: no model call starts once the cancel is under way.
  await deps.ledger?.stopCalls(ref, stop);
  if (job.executionId) await deps.workflow.stop(job.executionId, CANCEL_REASON);
  const closed = await closeEndedExecution(deps, { ...ref, ...stop });
  const until = Date.now() + waitMs;
  let current = await requireJob(deps.store, ref);
  while (closed.deferred && !TERMINAL_STATUSES.includes(current.status) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    current = await requireJob(deps.store, ref);
  }
  return current;
}
