import { randomUUID } from 'node:crypto';
import { parseJobRequest } from '#shared/domain/request';
import type { JobSettings } from '#shared/domain/tenant';
import type { JobRecord, JobStore } from '#shared/ports/job-store';

/**
 * Stores an ACCEPTED job as acceptJob leaves it, without a tenant record, a reservation or a
 * start: for tests that play the workflow's steps themselves (model calls of a job without a
 * reservation are not metered). Acceptance itself is tested through acceptJob.
 */
export async function storeAcceptedJob(
  store: Pick<JobStore, 'createJob'>,
  tenantId: string,
  raw: Record<string, unknown>,
  settings: Partial<JobSettings> = {},
): Promise<JobRecord> {
  const { subtasks, dataset, ...request } = parseJobRequest(raw, {
    maxSubagentsCap: settings.maxWidth ?? 1000,
  });
  const job: JobRecord = {
    tenantId,
    jobId: randomUUID(),
    status: 'ACCEPTED',
    request,
    acceptedAt: new Date().toISOString(),
    ...settings,
  };
  await store.createJob(job, subtasks ?? [], dataset);
  return job;
}
