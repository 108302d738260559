import { SubmissionInProgressError } from '#shared/domain/batch';
import type { IdempotencyStore } from '#shared/ports/idempotency';
import type { JobRecord } from '#shared/ports/job-store';
import type { JobSubmission, JobSubmitter } from '#shared/ports/job-submitter';
import type { BudgetLedger } from '#shared/ports/ledger';
import { type SubmitDeps, submitJob } from '#shared/use-cases/submit-job';

/** Options of the {@link LedgerJobSubmitter}. */
export interface LedgerJobSubmitterOptions {
  /** How long a duplicate waits for the first delivery to start the job before it gives up (retry later). */
  waitForStartMs?: number;
  /** A job still ACCEPTED without an execution after this long lost its first delivery mid-way; it is started then. */
  startGraceMs?: number;
}

/** What the submitter needs: the API's submission deps, with the ledger and the idempotency store required. */
export type LedgerSubmitDeps = SubmitDeps & { ledger: BudgetLedger; idempotency: IdempotencyStore };

/**
 * The batch intake's JobSubmitter: the same budget-aware, idempotent submission as `POST /v1/jobs`
 * with an `Idempotency-Key` ({@link submitJob}). The job id comes from (tenant, key), the key is
 * claimed, the estimate is reserved once per job, the job is stored with a conditional write and
 * its execution is named after it; so a duplicate delivery, later or at the same time, gets the
 * first job back and reserves, stores and starts nothing. The job's one usage record is written by
 * the ledger's settle when the job ends.
 *
 * What this adds for a queue: a duplicate returns only once the job has started. SQS deletes a
 * message whichever of its deliveries succeeds, so a duplicate that succeeded while the first
 * delivery died between storing and starting the job would leave it ACCEPTED for ever. Instead the
 * duplicate waits a little for the start, then fails with SubmissionInProgressError (the record is
 * retried); a job left ACCEPTED without an execution past the grace period is started by whichever
 * delivery finds it (the execution's name makes a repeated start a no-op).
 */
export class LedgerJobSubmitter implements JobSubmitter {
  private readonly waitForStartMs: number;
  private readonly startGraceMs: number;

  constructor(
    private readonly deps: LedgerSubmitDeps,
    options: LedgerJobSubmitterOptions = {},
  ) {
    this.waitForStartMs = options.waitForStartMs ?? 2_000;
    this.startGraceMs = options.startGraceMs ?? 60_000;
  }

  async submit(input: JobSubmission): Promise<{ job: JobRecord; duplicate: boolean }> {
    const { job, duplicate } = await submitJob(this.deps, input);
    return { job: duplicate ? await this.started(job) : job, duplicate };
  }

  /** The job once started (or finished); starts it when its first delivery left it unstarted too long. */
  private async started(job: JobRecord): Promise<JobRecord> {
    let current = job;
    const deadline = Date.now() + this.waitForStartMs;
    while (current.status === 'ACCEPTED' && !current.executionId) {
      if (Date.now() - Date.parse(current.acceptedAt) > this.startGraceMs) {
        const { executionId } = await this.deps.starter.start(current);
        await this.deps.store.updateJob(current, { executionId });
        return { ...current, executionId };
      }
      if (Date.now() >= deadline) throw new SubmissionInProgressError(current.jobId);
      await new Promise((resolve) => setTimeout(resolve, 50));
      current = (await this.deps.store.getJob(current)) ?? current;
    }
    return current;
  }
}
