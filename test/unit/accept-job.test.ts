import { describe, expect, it } from 'vitest';
import { SubmissionInProgressError } from '#shared/domain/batch';
import {
  AuthError,
  BudgetExceededError,
  IdempotencyConflictError,
  RequestValidationError,
} from '#shared/domain/errors';
import { jobIdForKey } from '#shared/domain/idempotency';
import { acceptJob } from '#shared/use-cases/accept-job';
import { fakeAcceptDeps } from './accept-fakes';

const sums = { task: 'Sums', subtasks: ['1 + 1?', '2 + 2?'] };

describe('acceptJob', () => {
  it('stores, reserves for and starts a job of an ACTIVE tenant, with its settings', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    // Act
    const { job, duplicate } = await acceptJob(deps, { tenantId: 'tuned', request: sums });
    // Assess
    expect(duplicate).toBe(false);
    expect(job).toMatchObject({ status: 'ACCEPTED', executionId: `exec-${job.jobId}`, maxWidth: 8 });
    expect(seen.jobs.get(job.jobId)).toMatchObject({ annealJobs: 30, request: { task: 'Sums' } });
    expect(seen.jobs.get(job.jobId)?.request).not.toHaveProperty('subtasks');
    expect(seen.subtasks.get(job.jobId)?.map((s) => s.prompt)).toEqual(['1 + 1?', '2 + 2?']);
    expect(seen.reserved).toEqual([
      { ref: { tenantId: 'tuned', jobId: job.jobId }, usd: expect.any(Number) },
    ]);
    expect(seen.reserved[0]?.usd).toBeGreaterThan(0);
  });

  it.each([
    ['an unknown tenant', 'nobody', false],
    ['a revoked tenant', 'gone', true],
  ])('refuses %s with an AuthError and stores nothing', async (_what, tenantId, revoked) => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    // Act
    const outcome = acceptJob(deps, { tenantId, request: sums });
    // Assess
    await expect(outcome).rejects.toBeInstanceOf(AuthError);
    await expect(outcome).rejects.toMatchObject({ revoked });
    expect(seen.jobs.size).toBe(0);
  });

  it("validates the request within the tenant's cap, naming the field and its reason apart", async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    // Act
    const outcome = acceptJob(deps, { tenantId: 'tuned', request: { ...sums, maxSubagents: 9 } });
    // Assess
    await expect(outcome).rejects.toBeInstanceOf(RequestValidationError);
    await expect(outcome).rejects.toMatchObject({
      field: 'maxSubagents',
      reason: expect.stringContaining('8'),
    });
    expect(seen.reserved).toHaveLength(0);
  });

  it('returns the same job for the same key and request, and refuses the key with another request', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    const first = await acceptJob(deps, { tenantId: 'acme', request: sums, idempotencyKey: 'k-1' });
    // Act
    const again = await acceptJob(deps, { tenantId: 'acme', request: sums, idempotencyKey: 'k-1' });
    const other = acceptJob(deps, { tenantId: 'acme', request: { task: 'Other' }, idempotencyKey: 'k-1' });
    // Assess
    expect(first.job.jobId).toBe(jobIdForKey('acme', 'k-1'));
    expect(again).toMatchObject({ duplicate: true, job: { jobId: first.job.jobId } });
    await expect(other).rejects.toBeInstanceOf(IdempotencyConflictError);
    await expect(other).rejects.toMatchObject({ jobId: first.job.jobId });
    expect(seen.reserved).toHaveLength(1);
    expect(seen.starts).toHaveLength(1);
  });

  it('stores nothing when the budget cannot cover the estimate', async () => {
    // Prepare
    const exceeded = new BudgetExceededError('no money', { requiredUsd: 1, availableUsd: 0 });
    const { deps, seen } = fakeAcceptDeps({ reserveFails: exceeded });
    // Act / Assess
    await expect(acceptJob(deps, { tenantId: 'acme', request: sums })).rejects.toBe(exceeded);
    expect(seen.jobs.size).toBe(0);
  });

  it('stores the job FAILED with the reason and releases its reservation when the start fails', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps({ startFails: new Error('StartExecution throttled') });
    // Act
    await expect(acceptJob(deps, { tenantId: 'acme', request: sums })).rejects.toThrow('throttled');
    // Assess
    const [job] = [...seen.jobs.values()];
    expect(job).toMatchObject({
      status: 'FAILED',
      error: 'the workflow could not be started: StartExecution throttled',
    });
    expect(seen.settled.map((r) => r.jobId)).toEqual([job?.jobId]);
  });

  it('releases the reservation when storing the job fails, and passes the error on (no money stranded)', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps({ createFails: new Error('Item size has exceeded the maximum') });
    // Act
    const accepting = acceptJob(deps, { tenantId: 'acme', request: sums });
    // Assess
    await expect(accepting).rejects.toThrow('maximum');
    expect(seen.reserved).toHaveLength(1);
    expect(seen.released.map((r) => r.jobId)).toEqual([seen.reserved[0]?.ref.jobId]);
    expect(seen.starts).toEqual([]);
  });

  describe('with a StartWait (the batch intake)', () => {
    /** A job its first delivery stored, accepted `ageMs` ago, and never started. */
    async function storedNotStarted(ageMs: number) {
      const { deps, seen } = fakeAcceptDeps();
      const key = `k-${ageMs}`;
      await acceptJob(
        { ...deps, workflow: { start: () => Promise.reject(new Error('the Lambda died here')) } },
        { tenantId: 'acme', request: sums, idempotencyKey: key },
      ).catch(() => undefined);
      const jobId = jobIdForKey('acme', key);
      const acceptedAt = new Date(Date.now() - ageMs).toISOString();
      seen.jobs.set(jobId, {
        tenantId: 'acme',
        jobId,
        status: 'ACCEPTED',
        request: sums as never,
        acceptedAt,
      });
      return { deps, seen, key, jobId };
    }

    it('starts a duplicate whose first delivery left it unstarted past the grace period', async () => {
      // Prepare
      const { deps, seen, key, jobId } = await storedNotStarted(120_000);
      // Act
      const again = await acceptJob(
        { ...deps, startWait: { waitForStartMs: 100, startGraceMs: 60_000 } },
        { tenantId: 'acme', request: sums, idempotencyKey: key },
      );
      // Assess
      expect(again).toMatchObject({ duplicate: true, job: { jobId, executionId: `exec-${jobId}` } });
      expect(seen.starts.map((r) => r.jobId)).toEqual([jobId]);
    });

    it('gives a duplicate up for now (SubmissionInProgressError) while its first delivery may still start it', async () => {
      // Prepare
      const { deps, seen, key } = await storedNotStarted(0);
      // Act
      const again = acceptJob(
        { ...deps, startWait: { waitForStartMs: 100, startGraceMs: 60_000 } },
        { tenantId: 'acme', request: sums, idempotencyKey: key },
      );
      // Assess
      await expect(again).rejects.toBeInstanceOf(SubmissionInProgressError);
      expect(seen.starts).toHaveLength(0);
    });

    it('returns a duplicate at once without a StartWait (the API)', async () => {
      // Prepare
      const { deps, key, jobId } = await storedNotStarted(0);
      // Act
      const again = await acceptJob(deps, { tenantId: 'acme', request: sums, idempotencyKey: key });
      // Assess
      expect(again).toMatchObject({ duplicate: true, job: { jobId, status: 'ACCEPTED' } });
    });
  });
});
