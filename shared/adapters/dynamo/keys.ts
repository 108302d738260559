import type { Role } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';

/**
 * Key layout of the single table. Every partition key leads with `TENANT#<tenantId>`, so IAM can
 * narrow a tenant's data path with `dynamodb:LeadingKeys` and no query can cross tenants.
 */
export const keys = {
  jobPk: (ref: JobRef) => `TENANT#${ref.tenantId}#JOB#${ref.jobId}`,
  job: 'JOB',
  tenantJobsPk: (tenantId: string) => `TENANT#${tenantId}`,
  /** The partition of a tenant's own records (its policies). */
  tenantPk: (tenantId: string) => `TENANT#${tenantId}`,
  policy: (taskClass: string) => `POLICY#${taskClass}`,
  tenantJobsSk: (acceptedAt: string, jobId: string) => `JOB#${acceptedAt}#${jobId}`,
  /**
   * The one GSI, over (`gsi1pk`, `gsi1sk`): a tenant's jobs, and every tenant (TENANT_JOBS_INDEX of
   * the stateful stack).
   */
  index: 'gsi1',
  subtask: (id: string) => `SUBTASK#${id}`,
  data: (kind: string, id: string) => `DATA#${kind}#${id}`,
  result: (subtaskId: string) => `RESULT#${subtaskId}`,
  stagePrefix: (stage: number) => String(stage).padStart(3, '0'),
  step: (stage: number, role: Role, agentId: string, step: number) =>
    `STEP#${keys.stagePrefix(stage)}#${role}#${agentId}#${String(step).padStart(5, '0')}`,
  agentStepsPrefix: (stage: number, role: Role, agentId: string) =>
    `STEP#${keys.stagePrefix(stage)}#${role}#${agentId}#`,
  agent: (stage: number, agentId: string) => `AGENT#${keys.stagePrefix(stage)}#${agentId}`,
  attempt: (stage: number, role: Role, agentId: string) =>
    `ATTEMPT#${keys.stagePrefix(stage)}#${role}#${agentId}`,
};

/** Tenant-level records: the tenant itself, idempotency claims and per-job usage, all under `TENANT#<id>`. */
export const tenantKeys = {
  pk: (tenantId: string) => `TENANT#${tenantId}`,
  tenant: 'TENANT',
  /** gsi1 partition listing every tenant (an operator's view, never reached with a tenant's key). */
  allTenantsPk: 'TENANTS',
  allTenantsSk: (createdAt: string, tenantId: string) => `TENANT#${createdAt}#${tenantId}`,
  idempotency: (key: string) => `IDEMPOTENCY#${key}`,
  usagePrefix: (period: string) => `USAGE#${period}#`,
  usage: (period: string, jobId: string) => `USAGE#${period}#${jobId}`,
  /** The job's budget record lives in the job's partition. */
  budget: 'BUDGET',
};
