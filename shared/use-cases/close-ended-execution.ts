import { type JobStatus, TERMINAL_STATUSES } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import { type CloseJobDeps, causeMessage, closeJob, settleJob } from './close-job';

/** How a workflow execution ended abnormally (the Step Functions execution statuses). */
export type EndedExecutionStatus = 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface EndedExecution extends JobRef {
  status: EndedExecutionStatus;
  /** The execution's error name (`detail.error` of the status-change event). */
  error?: string;
  /** The execution's error cause: plain text, or a Lambda's `{errorMessage}` JSON. */
  cause?: string;
  /** The reason to store instead of the one derived from `status`, `error` and `cause`. */
  reason?: string;
}

export interface CloseEndedExecutionOutput {
  jobId: string;
  /** The stored status before this call; undefined when there is no such job (nothing is stored). */
  previousStatus: JobStatus | undefined;
  /** The stored status after this call; undefined when there is no such job. */
  status: JobStatus | undefined;
  error?: string;
  /** Model calls were still in flight: the job is closed when the last of them ends. */
  deferred?: boolean;
}

/** The stored reason for an execution that ended abnormally. */
export function endedExecutionReason(ended: Omit<EndedExecution, keyof JobRef>): string {
  if (ended.reason) return ended.reason;
  switch (ended.status) {
    case 'TIMED_OUT':
      return 'the execution timed out';
    case 'ABORTED':
      // StopExecution's cause (e.g. the tenant's cancel), so the event and the cancel agree.
      return ended.cause || 'the execution was stopped';
    case 'FAILED':
      return ended.error || ended.cause
        ? `the execution failed: ${causeMessage({ Error: ended.error, Cause: ended.cause })}`
        : 'the execution failed';
  }
}

/**
 * Closes the job of a workflow execution that ended abnormally (failed outside a Catch, timed
 * out, or was stopped), so no job stays RUNNING: the cloud calls it from the execution-status
 * events, the local runtime when its execution ends.
 *
 * 1. load the job; without one nothing is stored, and a terminal one is left as it is
 * 2. stop the job's model calls (none starts from now on); with calls still in flight, leave the
 *    job to the last of them to close (`deferred`)
 * 3. store the terminal state through the failure path of closeJob, so the measures of the steps
 *    taken so far are computed and kept (no model call): FAILED and TIMED_OUT → FAILED,
 *    ABORTED → CANCELLED, each with its reason
 *
 * @example
 * await closeEndedExecution({ store, steps: store }, { jobId, tenantId, status: 'TIMED_OUT' });
 * // the job is FAILED with error 'the execution timed out'
 */
export async function closeEndedExecution(
  deps: CloseJobDeps,
  ended: EndedExecution,
): Promise<CloseEndedExecutionOutput> {
  const ref: JobRef = { tenantId: ended.tenantId, jobId: ended.jobId };
  const job = await deps.store.getJob(ref);
  if (!job) return { jobId: ended.jobId, previousStatus: undefined, status: undefined };
  if (TERMINAL_STATUSES.includes(job.status)) {
    await settleJob(deps, job);
    return {
      jobId: job.jobId,
      previousStatus: job.status,
      status: job.status,
      ...(job.error ? { error: job.error } : {}),
    };
  }
  // No new model call from here on; calls still in flight are waited for: the last one to end
  // closes the job (ModelStepDeps.onLastStoppedCall), so every call made is in its measures and bill.
  const inFlight = await deps.ledger?.stopCalls(ref, {
    status: ended.status,
    reason: endedExecutionReason(ended),
  });
  if (inFlight) return { jobId: job.jobId, previousStatus: job.status, status: job.status, deferred: true };
  const out = await closeJob(deps, job, {
    error: endedExecutionReason(ended),
    failedAs: ended.status === 'ABORTED' ? 'CANCELLED' : 'FAILED',
    failurePath: true,
  });
  return {
    jobId: job.jobId,
    previousStatus: job.status,
    status: out.status,
    ...(out.error ? { error: out.error } : {}),
  };
}
