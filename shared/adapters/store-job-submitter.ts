import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { idempotentJobId, SubmissionInProgressError } from '#shared/domain/batch';
import type { JobRecord, JobStore } from '#shared/ports/job-store';
import type { JobSubmission, JobSubmitter, TenantDirectory } from '#shared/ports/job-submitter';
import type { WorkflowStarter } from '#shared/ports/workflow';
import { submitJob } from '#shared/use-cases/submit-job';

/** Options of the {@link StoreJobSubmitter}. */
export interface StoreJobSubmitterOptions {
  /** How long a duplicate waits for the first delivery to start the job before it gives up (retry later). */
  waitForStartMs?: number;
  /** A job still ACCEPTED without an execution after this long lost its first delivery mid-way; it is started then. */
  startGraceMs?: number;
}

/**
 * PROVISIONAL JobSubmitter (issue 4) over the existing `submitJob` use case, until the budget-aware
 * submission of issue 3 replaces it with the same semantics.
 *
 * The job id is derived from (tenant, idempotency key) ({@link idempotentJobId}) and the job record
 * is written with a conditional put (`attribute_not_exists`), so of two deliveries of the same
 * message (one after the other, or at the same time) exactly one creates the job and starts its
 * execution, which is named after the job; the other gets the same job back with `duplicate: true`.
 */
export class StoreJobSubmitter implements JobSubmitter {
  private readonly waitForStartMs: number;
  private readonly startGraceMs: number;

  constructor(
    private readonly store: JobStore,
    private readonly starter: WorkflowStarter,
    options: StoreJobSubmitterOptions = {},
  ) {
    this.waitForStartMs = options.waitForStartMs ?? 2_000;
    this.startGraceMs = options.startGraceMs ?? 60_000;
  }

  async submit(input: JobSubmission): Promise<{ job: JobRecord; duplicate: boolean }> {
    const ref = { tenantId: input.tenantId, jobId: idempotentJobId(input.tenantId, input.idempotencyKey) };
    const existing = await this.store.getJob(ref);
    if (existing) return { job: await this.settle(existing), duplicate: true };
    try {
      const { job } = await submitJob(
        { store: this.store, starter: this.starter },
        { tenantId: input.tenantId, request: input.request, jobId: ref.jobId },
      );
      return { job, duplicate: false };
    } catch (error) {
      // Lost the race for the conditional put: the other delivery owns the job.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const job = await this.store.getJob(ref);
      if (!job) throw error;
      return { job: await this.settle(job), duplicate: true };
    }
  }

  /**
   * A duplicate returns the job once its first delivery has started it. If that delivery is still
   * at it, the duplicate waits a little, then fails with SubmissionInProgressError (the record is
   * retried later). A job left ACCEPTED without an execution past the grace period (its first
   * delivery died between storing and starting it) is started here; the execution is named after
   * the job, so a start that did happen is not repeated by Step Functions.
   */
  private async settle(job: JobRecord): Promise<JobRecord> {
    let current = job;
    const deadline = Date.now() + this.waitForStartMs;
    while (current.status === 'ACCEPTED' && !current.executionId) {
      if (Date.now() - Date.parse(current.acceptedAt) > this.startGraceMs) {
        const { executionId } = await this.starter.start(current);
        await this.store.updateJob(current, { executionId });
        return { ...current, executionId };
      }
      if (Date.now() >= deadline) throw new SubmissionInProgressError(current.jobId);
      await new Promise((resolve) => setTimeout(resolve, 50));
      current = (await this.store.getJob(current)) ?? current;
    }
    return current;
  }
}

/**
 * PROVISIONAL TenantDirectory (issue 4): a fixed set of tenant ids (the local runtime's, the tests',
 * or `PARL_TENANTS` in the cloud) until issue 3's tenant store replaces it.
 */
export class StaticTenantDirectory implements TenantDirectory {
  private readonly tenants: Set<string>;
  constructor(tenants: Iterable<string> = []) {
    this.tenants = new Set(tenants);
  }
  /** Adds a tenant. */
  add(tenantId: string): this {
    this.tenants.add(tenantId);
    return this;
  }
  exists(tenantId: string): Promise<boolean> {
    return Promise.resolve(this.tenants.has(tenantId));
  }
}
