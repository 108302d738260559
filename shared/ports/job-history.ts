import type { JobRecord } from './job-store';

/** A tenant's past jobs, oldest first. */
export interface JobHistory {
  /** The jobs accepted at or after `since` (an ISO timestamp), oldest first. */
  listJobs(tenantId: string, opts?: { since?: string }): AsyncIterable<JobRecord>;
}
