import type { JobRef } from './job-store';

/** Starts the state machine for an accepted job (Step Functions in the cloud, the embedded runtime locally). */
export interface WorkflowStarter {
  /** Idempotent per job: the execution is named after the job, a second start finds the first. */
  start(ref: JobRef): Promise<{ executionId: string }>;
}

/** Starts and stops job executions. */
export interface WorkflowControl extends WorkflowStarter {
  /** Stops a running execution; stopping one that has ended is not an error. */
  stop(executionId: string, cause: string): Promise<void>;
}
