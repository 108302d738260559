import type { JobRequest, RewardWeights } from '#shared/domain/types';
import type { JobRecord } from './job-store';

/** What a submission carries: the tenant, the validated request and the key that makes it idempotent. */
export interface JobSubmission {
  tenantId: string;
  request: JobRequest;
  /** The same key for the same tenant always yields the same job: one job, one execution, one debit. */
  idempotencyKey: string;
  /** The tenant's cap on sub-agents at once (the plan and its policy stay within it). */
  maxWidth?: number;
  /** The tenant's own λ annealing (jobs per policy, 0 = off), when it has one. */
  annealJobs?: number;
  /** The tenant's own λ of rPARL, when it has them. */
  weights?: RewardWeights;
}

/**
 * Accepts a job once per (tenant, idempotency key) and starts its workflow. A duplicate, whether
 * it arrives later or at the same time, returns the first submission's job with `duplicate: true`
 * and starts nothing.
 */
export interface JobSubmitter {
  submit(input: JobSubmission): Promise<{ job: JobRecord; duplicate: boolean }>;
}

/** Reads an uploaded object (a JSONL or CSV file of subtasks). */
export interface ObjectReader {
  /** The object's text; throws NotFoundError when there is no such object. */
  getText(location: { bucket: string; key: string }): Promise<string>;
}
