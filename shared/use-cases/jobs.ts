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

/**
 * Cancels a running job.
 *
 * 1. load the job (NotFoundError for another tenant's job); a finished one is a StateConflictError
 * 2. stop its execution (the cloud's status-change event will find the job closed already)
 * 3. close the job as CANCELLED with the measures of the steps taken so far, and settle its cost
 */
export async function cancelJob(
  deps: CloseJobDeps & { workflow: WorkflowControl },
  ref: JobRef,
): Promise<JobRecord> {
  const job = await requireJob(deps.store, ref);
  if (TERMINAL_STATUSES.includes(job.status)) {
    throw new StateConflictError(`job ${job.jobId} has already ended: ${job.status}`);
  }
  if (job.executionId) await deps.workflow.stop(job.executionId, CANCEL_REASON);
  await closeEndedExecution(deps, { ...ref, status: 'ABORTED', reason: CANCEL_REASON });
  return requireJob(deps.store, ref);
}
