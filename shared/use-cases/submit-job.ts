import { randomUUID } from 'node:crypto';
import { RequestValidationError } from '#shared/domain/errors';
import type { JobRequest } from '#shared/domain/types';
import type { JobRecord, JobStore } from '#shared/ports/job-store';
import type { WorkflowStarter } from '#shared/ports/workflow';

export interface SubmitDeps {
  store: JobStore;
  starter: WorkflowStarter;
}

/**
 * Accepts a validated job request for a tenant and starts its workflow.
 *
 * 1. check the workload's data (every installation has a string id)
 * 2. store the job as ACCEPTED with its subtasks and data
 * 3. start the workflow; the execution is named after the job, so one job never runs twice
 * 4. if the start fails, store the job as FAILED with the reason (nothing accepted is lost)
 */
export async function submitJob(
  deps: SubmitDeps,
  input: { tenantId: string; request: JobRequest; jobId?: string },
): Promise<JobRecord> {
  const { subtasks, dataset, ...request } = input.request;
  if (request.workload === 'bma-compliance') {
    (dataset?.installations ?? []).forEach((inst, i) => {
      if (typeof (inst as { id?: unknown })?.id !== 'string') {
        throw new RequestValidationError(`dataset.installations[${i}].id`, 'must be a string');
      }
    });
  }
  const job: JobRecord = {
    tenantId: input.tenantId,
    jobId: input.jobId ?? randomUUID(),
    status: 'ACCEPTED',
    request,
    acceptedAt: new Date().toISOString(),
  };
  await deps.store.createJob(job, subtasks ?? [], dataset);
  try {
    const { executionId } = await deps.starter.start(job);
    await deps.store.updateJob(job, { executionId });
    return { ...job, executionId };
  } catch (error) {
    const reason = `the workflow could not be started: ${error instanceof Error ? error.message : String(error)}`;
    await deps.store.finishJob(job, {
      status: 'FAILED',
      finishedAt: new Date().toISOString(),
      error: reason,
    });
    throw error;
  }
}
