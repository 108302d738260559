import { randomUUID } from 'node:crypto';
import { parseJobRequest } from '#shared/domain/request';
import type { JobSettings } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
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

/** Step `n` of sub-agent a1 (stage 1): one second of kimi-k2.5 with `input` and `output` tokens. */
export const subagentStep = (n: number, input: number, output: number): StepRecord => ({
  stage: 1,
  role: 'sub',
  agentId: 'a1',
  step: n,
  attempt: 1,
  startedAt: '2026-11-29T00:00:00.000Z',
  endedAt: '2026-11-29T00:00:01.000Z',
  durationMs: 1000,
  inputTokens: input,
  outputTokens: output,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
  model: 'kimi-k2.5',
});
