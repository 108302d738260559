import { afterEach, describe, expect, it, vi } from 'vitest';
import { SubmissionInProgressError } from '#shared/domain/batch';
import {
  AuthError,
  BudgetExceededError,
  IdempotencyConflictError,
  RequestValidationError,
} from '#shared/domain/errors';
import { jobIdForKey } from '#shared/domain/idempotency';
import type { JobRecord } from '#shared/ports/job-store';
import type { ReserveOptions } from '#shared/ports/ledger';
import { acceptJob } from '#shared/use-cases/accept-job';
import { fakeAcceptDeps, tenant } from './accept-fakes';

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
    expect(seen.jobs.get(job.jobId)).toMatchObject({
      annealJobs: 30,
      request: { task: 'Sums' },
      executionId: `exec-${job.jobId}`,
    });
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

  it.each([
    ['nobody', 'tenant "nobody" does not exist'],
    ['gone', 'tenant "gone" is revoked'],
  ])('names the tenant %s in the AuthError and says what is wrong with it', async (tenantId, message) => {
    // Prepare
    const { deps } = fakeAcceptDeps();
    // Act
    const outcome = acceptJob(deps, { tenantId, request: sums });
    // Assess
    await expect(outcome).rejects.toThrow(message);
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

  it("names the key and the key's job in the conflict", async () => {
    // Prepare
    const { deps } = fakeAcceptDeps();
    const first = await acceptJob(deps, { tenantId: 'acme', request: sums, idempotencyKey: 'k-1' });
    // Act
    const other = acceptJob(deps, { tenantId: 'acme', request: { task: 'Other' }, idempotencyKey: 'k-1' });
    // Assess
    await expect(other).rejects.toThrow(
      `the Idempotency-Key "k-1" was used for job ${first.job.jobId} with a different request`,
    );
  });

  it('returns the job a concurrent duplicate stored first, starting and charging nothing more', async () => {
    // Prepare: the other delivery's job lands between this one's claim and its write
    const { deps, seen } = fakeAcceptDeps();
    const createJob = deps.store.createJob;
    deps.store.createJob = (job, subtasks, dataset) => {
      seen.jobs.set(job.jobId, { ...job, status: 'RUNNING', executionId: 'exec-first' });
      return createJob(job, subtasks, dataset);
    };
    // Act
    const outcome = await acceptJob(deps, { tenantId: 'acme', request: sums, idempotencyKey: 'k-1' });
    // Assess
    expect(outcome).toMatchObject({ duplicate: true, job: { status: 'RUNNING', executionId: 'exec-first' } });
    expect(seen.starts).toEqual([]);
  });

  it('starts its own job when the store refuses the write but has no job to show for it', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    deps.store.createJob = () => Promise.resolve(false);
    // Act
    const outcome = await acceptJob(deps, { tenantId: 'acme', request: sums });
    // Assess
    expect(outcome).toMatchObject({ duplicate: false, job: { executionId: `exec-${outcome.job.jobId}` } });
    expect(seen.starts.map((r) => r.jobId)).toEqual([outcome.job.jobId]);
  });

  it('reserves for the subtasks a job brings, less than for a job still to be decomposed', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    // Act
    await acceptJob(deps, { tenantId: 'acme', request: sums });
    await acceptJob(deps, { tenantId: 'acme', request: { task: 'Sums' } });
    // Assess
    const [two, decomposed] = seen.reserved.map((r) => r.usd);
    expect(two).toBeLessThan(decomposed ?? 0);
  });

  it('reserves for a job with data of no known workload as for one still to be decomposed', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    // Act
    await acceptJob(deps, { tenantId: 'acme', request: { task: 'Rows', dataset: { rows: [1, 2, 3] } } });
    await acceptJob(deps, { tenantId: 'acme', request: { task: 'Rows' } });
    // Assess
    const [withData, without] = seen.reserved.map((r) => r.usd);
    expect(withData).toBe(without);
  });

  it("holds the reservation within the tenant's jobs-at-once limit only when asked to", async () => {
    // Prepare
    const { deps } = fakeAcceptDeps();
    const options: (ReserveOptions | undefined)[] = [];
    deps.tenants = { getTenant: (id) => Promise.resolve(tenant(id, { maxConcurrentJobs: 3 })) };
    deps.ledger = { ...deps.ledger, reserve: (_ref, _usd, opts) => Promise.resolve(void options.push(opts)) };
    // Act
    await acceptJob(deps, { tenantId: 'busy', request: sums, limitConcurrentJobs: true });
    await acceptJob(deps, { tenantId: 'busy', request: sums });
    // Assess
    expect(options).toEqual([{ maxConcurrentJobs: 3 }, {}]);
  });

  it('stores no subtasks for a job still to be decomposed', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    // Act
    const { job } = await acceptJob(deps, { tenantId: 'acme', request: { task: 'Sums' } });
    // Assess
    expect(seen.subtasks.get(job.jobId)).toEqual([]);
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

  it('keeps the reservation of a job whose write landed although the call failed, and passes the error on', async () => {
    // Prepare
    const { deps, seen } = fakeAcceptDeps();
    deps.store.createJob = (job) => {
      seen.jobs.set(job.jobId, { ...job });
      return Promise.reject(new Error('the connection was reset'));
    };
    // Act
    const accepting = acceptJob(deps, { tenantId: 'acme', request: sums });
    // Assess
    await expect(accepting).rejects.toThrow('reset');
    expect(seen.reserved).toHaveLength(1);
    expect(seen.released).toEqual([]);
  });

  describe('with a StartWait (the batch intake)', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

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
      expect(seen.jobs.get(jobId)?.executionId).toBe(`exec-${jobId}`);
    });

    it('returns a duplicate once its first delivery has started the job within the wait', async () => {
      // Prepare: the first delivery starts the job after the duplicate's first look
      const { deps, seen, key, jobId } = await storedNotStarted(0);
      vi.useFakeTimers();
      const getJob = deps.store.getJob;
      let reads = 0;
      deps.store.getJob = async (ref) => {
        const job = await getJob(ref);
        reads++;
        return reads > 1 && job ? { ...job, status: 'RUNNING', executionId: 'exec-first' } : job;
      };
      let outcome: unknown;
      // Act
      void acceptJob(
        { ...deps, startWait: { waitForStartMs: 1_000, startGraceMs: 60_000 } },
        { tenantId: 'acme', request: sums, idempotencyKey: key },
      ).then(
        (o) => {
          outcome = o;
        },
        (e: unknown) => {
          outcome = e;
        },
      );
      await vi.advanceTimersByTimeAsync(50);
      // Assess
      expect(outcome).toMatchObject({ duplicate: true, job: { jobId, executionId: 'exec-first' } });
      expect(seen.starts).toEqual([]);
    });

    it('gives a duplicate up at once, without another look, when it may not wait', async () => {
      // Prepare: a look after the first would find the job started
      const { deps, key } = await storedNotStarted(0);
      vi.useFakeTimers();
      const getJob = deps.store.getJob;
      let reads = 0;
      deps.store.getJob = async (ref) => {
        const job = await getJob(ref);
        reads++;
        return reads > 1 && job ? { ...job, status: 'RUNNING', executionId: 'exec-first' } : job;
      };
      let outcome: unknown;
      // Act
      void acceptJob(
        { ...deps, startWait: { waitForStartMs: 0, startGraceMs: 60_000 } },
        { tenantId: 'acme', request: sums, idempotencyKey: key },
      ).then(
        (o) => {
          outcome = o;
        },
        (e: unknown) => {
          outcome = e;
        },
      );
      await vi.advanceTimersByTimeAsync(50);
      // Assess
      expect(outcome).toBeInstanceOf(SubmissionInProgressError);
    });

    it('leaves a job exactly at the end of its grace period to its first delivery', async () => {
      // Prepare: the clock stands still, so the job's age is the grace period to the millisecond
      const { deps, seen, key, jobId } = await storedNotStarted(0);
      vi.useFakeTimers();
      const stored = seen.jobs.get(jobId) as JobRecord;
      seen.jobs.set(jobId, { ...stored, acceptedAt: new Date(Date.now() - 60_000).toISOString() });
      let outcome: unknown;
      // Act
      void acceptJob(
        { ...deps, startWait: { waitForStartMs: 0, startGraceMs: 60_000 } },
        { tenantId: 'acme', request: sums, idempotencyKey: key },
      ).then(
        (o) => {
          outcome = o;
        },
        (e: unknown) => {
          outcome = e;
        },
      );
      await vi.advanceTimersByTimeAsync(50);
      // Assess
      expect(outcome).toBeInstanceOf(SubmissionInProgressError);
      expect(seen.starts).toEqual([]);
    });

    it('returns a duplicate whose start failed as it is, never starting it again', async () => {
      // Prepare
      const { deps, seen, key, jobId } = await storedNotStarted(120_000);
      const stored = seen.jobs.get(jobId) as JobRecord;
      seen.jobs.set(jobId, { ...stored, status: 'FAILED', error: 'the workflow could not be started: x' });
      // Act
      const again = await acceptJob(
        { ...deps, startWait: { waitForStartMs: 100, startGraceMs: 60_000 } },
        { tenantId: 'acme', request: sums, idempotencyKey: key },
      );
      // Assess
      expect(again).toMatchObject({ duplicate: true, job: { jobId, status: 'FAILED' } });
      expect(again.job.executionId).toBeUndefined();
      expect(seen.starts).toEqual([]);
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
