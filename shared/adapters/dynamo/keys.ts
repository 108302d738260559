import { createHash } from 'node:crypto';
import type { Role } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';

/** The partition of everything a tenant owns: `TENANT#<tenantId>`. */
const tenantPk = (tenantId: string) => `TENANT#${tenantId}`;
/** Stages sort as text: `001`, `002`, … */
const stage3 = (stage: number) => String(stage).padStart(3, '0');

/**
 * The key layout of the single table: every key, index name and prefix the adapters use, and no
 * other module spells one. Every partition key leads with `TENANT#<tenantId>`, so IAM can narrow a
 * tenant's data path with `dynamodb:LeadingKeys` and no query can cross tenants (the exceptions:
 * `TENANTS` on the GSI, the operator's list of tenants, never reached with a tenant's key, and a
 * provider key's limiter under `PROVIDER#`, shared by every tenant using that key).
 *
 * - a tenant's partition `TENANT#<tenantId>`: the tenant (`TENANT`), its policies (`POLICY#…`),
 *   idempotency claims (`IDEMPOTENCY#…`), usage records (`USAGE#<period>#<jobId>`), monthly usage
 *   counters (`USAGE_MONTH#<period>`) and the request-rate window (`REQUESTS`)
 * - a job's partition `TENANT#<tenantId>#JOB#<jobId>`: the job (`JOB`), its subtasks, data, results,
 *   steps, agents, attempts and budget record
 * - the GSI `gsi1` (`gsi1pk`, `gsi1sk`): a tenant's jobs by acceptance time (`JOB#<acceptedAt>#<jobId>`
 *   under the tenant's partition value), every tenant (`TENANT#<createdAt>#<tenantId>` under `TENANTS`)
 *   and the open reservations (`RESERVATION#<createdAt>#<tenantId>#<jobId>` under `RESERVATIONS`, the
 *   sweeper's, an operator's view like `TENANTS`)
 * - a provider key's partition `PROVIDER#<hash>`: its limiter ({@link providerKeys})
 */
export const keys = {
  /**
   * The one GSI, over (`gsi1pk`, `gsi1sk`): a tenant's jobs, and every tenant. The stateful stack
   * creates it under this name (TENANT_JOBS_INDEX).
   */
  index: 'gsi1',

  // ── a tenant's partition ──────────────────────────────────────────────────────────────────
  tenantPk,
  /** The tenant's own item. */
  tenant: 'TENANT',
  policy: (taskClass: string) => `POLICY#${taskClass}`,
  policyPrefix: 'POLICY#',
  idempotency: (key: string) => `IDEMPOTENCY#${key}`,
  usagePrefix: (period: string) => `USAGE#${period}#`,
  usage: (period: string, jobId: string) => `USAGE#${period}#${jobId}`,
  /** The tenant's monthly usage counters (added to as each job's usage is recorded). */
  usageMonth: (period: string) => `USAGE_MONTH#${period}`,
  /** The tenant's request-rate window (the per-tenant request limit). */
  requestWindow: 'REQUESTS',

  // ── the GSI ───────────────────────────────────────────────────────────────────────────────
  /** A tenant's jobs on the GSI: the tenant's partition value, sorted by acceptance time. */
  tenantJobsPk: tenantPk,
  tenantJobsSk: (acceptedAt: string, jobId: string) => `JOB#${acceptedAt}#${jobId}`,
  tenantJobsPrefix: 'JOB#',
  /** The first sort key of the jobs accepted at or after `since`. */
  tenantJobsFrom: (since: string) => `JOB#${since}`,
  /** The GSI partition listing every tenant. */
  allTenantsPk: 'TENANTS',
  allTenantsSk: (createdAt: string, tenantId: string) => `TENANT#${createdAt}#${tenantId}`,
  /**
   * The GSI partition of open reservations (budget records not settled or released yet), for the
   * reservation sweeper: sparse, a budget record leaves it when it is closed.
   */
  openReservationsPk: 'RESERVATIONS',
  openReservationSk: (createdAt: string, ref: JobRef) =>
    `RESERVATION#${createdAt}#${ref.tenantId}#${ref.jobId}`,
  /** The first sort key of the reservations made at or after `since`. */
  openReservationsFrom: (since: string) => `RESERVATION#${since}`,

  // ── a job's partition ─────────────────────────────────────────────────────────────────────
  jobPk: (ref: JobRef) => `${tenantPk(ref.tenantId)}#JOB#${ref.jobId}`,
  /** The job's own item. */
  job: 'JOB',
  /** The job's budget record. */
  budget: 'BUDGET',
  /** One shard of the job's call budget (`BUDGET#00`…): see budget-shards.ts. */
  budgetShard: (k: number) => `BUDGET#${String(k).padStart(2, '0')}`,
  subtask: (id: string) => `SUBTASK#${id}`,
  subtaskPrefix: 'SUBTASK#',
  data: (kind: string, id: string) => `DATA#${kind}#${id}`,
  result: (subtaskId: string) => `RESULT#${subtaskId}`,
  resultPrefix: 'RESULT#',
  step: (stage: number, role: Role, agentId: string, step: number) =>
    `STEP#${stage3(stage)}#${role}#${agentId}#${String(step).padStart(5, '0')}`,
  stepPrefix: 'STEP#',
  agentStepsPrefix: (stage: number, role: Role, agentId: string) =>
    `STEP#${stage3(stage)}#${role}#${agentId}#`,
  agent: (stage: number, agentId: string) => `AGENT#${stage3(stage)}#${agentId}`,
  agentPrefix: 'AGENT#',
  stageAgentsPrefix: (stage: number) => `AGENT#${stage3(stage)}#`,
  /** The attempt counters of a stage's agents of one role, a bucket of consecutively numbered agents an item. */
  attempts: (stage: number, role: Role, bucket: number) =>
    `ATTEMPTS#${stage3(stage)}#${role}#${String(bucket).padStart(4, '0')}`,
};

/**
 * A provider key's limiter, shared by every job of every tenant using that key: its clock and
 * control fields (`RATE`) and the concurrency slots (`SLOT#nnnnn`, an item named by its first
 * slot). The key itself is never stored, only 16 hex of sha256(base URL, key).
 */
export const providerKeys = {
  pk: (baseUrl: string, apiKey: string | undefined) =>
    `PROVIDER#${createHash('sha256')
      .update(`${baseUrl}\n${apiKey ?? ''}`)
      .digest('hex')
      .slice(0, 16)}`,
  rate: 'RATE',
  slot: (n: number) => `SLOT#${String(n).padStart(5, '0')}`,
  slotPrefix: 'SLOT#',
};
