import type { Tenant } from '#shared/domain/tenant';
import type { Subtask } from '#shared/domain/types';
import type { JobRecord, JobRef } from '#shared/ports/job-store';
import type { AcceptJobDeps } from '#shared/use-cases/accept-job';

/** An ACTIVE tenant with $10 and a cap of 50, with `over` on top. */
export const tenant = (tenantId: string, over: Partial<Tenant> = {}): Tenant => ({
  tenantId,
  name: tenantId,
  status: 'ACTIVE',
  createdAt: '2026-11-29T00:00:00.000Z',
  keyHash: 'h',
  budgetUsd: 10,
  availableUsd: 10,
  reservedUsd: 0,
  spentUsd: 0,
  maxSubagents: 50,
  ...over,
});

/** What the in-memory ports saw. */
export interface AcceptRecord {
  jobs: Map<string, JobRecord>;
  subtasks: Map<string, readonly Subtask[]>;
  reserved: { ref: JobRef; usd: number }[];
  settled: JobRef[];
  released: JobRef[];
  starts: JobRef[];
}

/**
 * The ports of {@link AcceptJobDeps} in memory: the tenants `acme` (cap 50), `gone` (revoked) and
 * `tuned` (cap 8, its own annealing and λ); `reserve`, `createJob` and `start` throw what they are given.
 */
export function fakeAcceptDeps(
  opts: { reserveFails?: Error; startFails?: Error; createFails?: Error } = {},
): {
  deps: AcceptJobDeps;
  seen: AcceptRecord;
} {
  const tenants = new Map([
    ['acme', tenant('acme')],
    ['gone', tenant('gone', { status: 'REVOKED' })],
    [
      'tuned',
      tenant('tuned', {
        maxSubagents: 8,
        annealJobs: 30,
        weights: { parallel: 0.5, finish: 0.3, perf: 0.2 },
      }),
    ],
  ]);
  const seen: AcceptRecord = {
    jobs: new Map(),
    subtasks: new Map(),
    reserved: [],
    settled: [],
    released: [],
    starts: [],
  };
  const claims = new Map<string, { jobId: string; requestHash: string }>();
  const deps: AcceptJobDeps = {
    tenants: { getTenant: (id) => Promise.resolve(tenants.get(id)) },
    store: {
      createJob: (job, subtasks) => {
        if (opts.createFails) return Promise.reject(opts.createFails);
        if (seen.jobs.has(job.jobId)) return Promise.resolve(false);
        seen.jobs.set(job.jobId, { ...job });
        seen.subtasks.set(job.jobId, subtasks);
        return Promise.resolve(true);
      },
      getJob: (ref) => Promise.resolve(seen.jobs.get(ref.jobId)),
      updateJob: (ref, patch) => {
        const job = seen.jobs.get(ref.jobId);
        if (job) seen.jobs.set(ref.jobId, { ...job, ...patch });
        return Promise.resolve();
      },
      finishJob: (ref, outcome) => {
        const job = seen.jobs.get(ref.jobId);
        if (job) seen.jobs.set(ref.jobId, { ...job, ...outcome });
        return Promise.resolve(job !== undefined);
      },
    },
    workflow: {
      start: (ref) => {
        if (opts.startFails) return Promise.reject(opts.startFails);
        seen.starts.push({ tenantId: ref.tenantId, jobId: ref.jobId });
        return Promise.resolve({ executionId: `exec-${ref.jobId}` });
      },
    },
    ledger: {
      reserve: (ref, usd) => {
        if (opts.reserveFails) return Promise.reject(opts.reserveFails);
        seen.reserved.push({ ref, usd });
        return Promise.resolve();
      },
      settle: (ref) => {
        seen.settled.push(ref);
        return Promise.resolve();
      },
      release: (ref) => {
        seen.released.push(ref);
        return Promise.resolve();
      },
    },
    idempotency: {
      claim: (tenantId, key, claim) => {
        const id = `${tenantId}\n${key}`;
        if (!claims.has(id)) claims.set(id, claim);
        return Promise.resolve(claims.get(id) ?? claim);
      },
    },
    config: { maxSubagentsCap: 1000, subagentStepBudget: 6 },
  };
  return { deps, seen };
}
