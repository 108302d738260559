import type { JobSettings } from '#shared/domain/tenant';
import type { JobRequest } from '#shared/domain/types';
import type { JobRecord } from './job-store';

/** What a submission carries: the tenant, the validated request and the key that makes it idempotent. */
export interface JobSubmission extends Partial<JobSettings> {
  tenantId: string;
  request: JobRequest;
  /** The same key for the same tenant always yields the same job: one job, one execution, one debit. */
  idempotencyKey: string;
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
