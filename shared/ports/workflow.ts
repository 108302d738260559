import type { JobRef } from './job-store';

/** Starts the state machine for an accepted job (Step Functions in the cloud, the embedded runtime locally). */
export interface WorkflowStarter {
  start(ref: JobRef): Promise<{ executionId: string }>;
}
