import { randomUUID } from 'node:crypto';
import type { AppConfig } from '#shared/config';
import { SubmissionInProgressError } from '#shared/domain/batch';
import { AuthError, IdempotencyConflictError } from '#shared/domain/errors';
import { jobIdForKey, requestHash } from '#shared/domain/idempotency';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import { parseJobRequest } from '#shared/domain/request';
import { estimateJobCostUsd, type JobSettings, jobSettingsOf, tenantLimitsOf } from '#shared/domain/tenant';
import type { JobRequest, PriceTable } from '#shared/domain/types';
import { workloadOf } from '#shared/domain/workloads/registry';
import type { IdempotencyStore } from '#shared/ports/idempotency';
import type { JobRecord, JobRef, JobStore } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { TenantStore } from '#shared/ports/tenants';
import type { WorkflowStarter } from '#shared/ports/workflow';

/**
 * How long a duplicate waits for its job to start. Queues need it: SQS deletes a message whichever
 * of its deliveries succeeds, so a duplicate that returned while the first delivery died between
 * storing and starting the job would leave it ACCEPTED for ever.
 */
export interface StartWait {
  /** How long a duplicate waits for the first delivery to start the job before it gives up (retry later). */
  waitForStartMs: number;
  /** A job still ACCEPTED without an execution after this long lost its first delivery mid-way; it is started then. */
  startGraceMs: number;
}

/** The defaults of the batch intake: wait 2 s for a start, start a job left unstarted for 60 s. */
export const DEFAULT_START_WAIT: StartWait = { waitForStartMs: 2_000, startGraceMs: 60_000 };

/** What accepting a job needs, by port. */
export interface AcceptJobDeps {
  /** Who may submit: an ACTIVE tenant, whose settings (cap, annealing, λ) the job carries. */
  tenants: Pick<TenantStore, 'getTenant'>;
  store: Pick<JobStore, 'createJob' | 'getJob' | 'updateJob' | 'finishJob'>;
  /** Starts the job's execution (named after the job, so a repeated start is a no-op). */
  workflow: WorkflowStarter;
  /** Reserves the job's estimate before it starts; releases it when the start fails. */
  ledger: Pick<BudgetLedger, 'reserve' | 'settle' | 'release'>;
  idempotency: IdempotencyStore;
  config: Pick<AppConfig, 'maxSubagentsCap' | 'subagentStepBudget'>;
  prices?: PriceTable;
  /** Set where a duplicate must not return before its job has started (the batch intake). */
  startWait?: StartWait;
}

/** A submission as an entry receives it: the request is validated here, within the tenant's cap. */
export interface AcceptJobInput {
  tenantId: string;
  /** The job request as sent (a parsed JSON body, a queue message's request, a `--input` file). */
  request: unknown;
  /** The same key with the same request returns the same job; with another request, a conflict. */
  idempotencyKey?: string;
  /**
   * Hold the tenant to its jobs-at-once limit (TenantLimitError at the limit): the API does; the
   * batch intake does not (its queue paces it, and a refused message would only be redelivered).
   */
  limitConcurrentJobs?: boolean;
}

export interface AcceptJobOutcome {
  job: JobRecord;
  /** True when the job already existed for this idempotency key (nothing new was started or charged). */
  duplicate: boolean;
}

/**
 * Accepts a job request for a tenant and starts its workflow: the one way in for the API
 * (`POST /v1/jobs`), the batch intake and `parl run`. Every step is idempotent per job, so a
 * duplicate (retried POST, redelivered message), sequential or concurrent, creates, charges and
 * starts nothing twice.
 *
 * 1. look the tenant up: it must exist (else AuthError) and be ACTIVE (else AuthError, revoked)
 * 2. take the tenant's job settings ({@link jobSettingsOf}: width cap, λ annealing, λ)
 * 3. validate the request within the tenant's cap (RequestValidationError names the field)
 * 4. check the workload's data (its registry entry; RequestValidationError)
 * 5. with an idempotency key: the job id comes from the key; claim the key with the request's
 *    hash (another request under the same key → IdempotencyConflictError); an existing job is
 *    returned as it is (with {@link StartWait}: once started)
 * 6. reserve the estimated cost from the tenant's budget (BudgetExceededError: nothing stored),
 *    within its jobs-at-once limit when `limitConcurrentJobs` (TenantLimitError: nothing stored)
 * 7. store the job as ACCEPTED with its subtasks and data (a concurrent duplicate loses here); a
 *    write that fails releases the reservation
 * 8. start the workflow, the execution named after the job; if the start fails, store the job
 *    FAILED with the reason and release its reservation
 */
export async function acceptJob(deps: AcceptJobDeps, input: AcceptJobInput): Promise<AcceptJobOutcome> {
  const { settings, maxConcurrentJobs } = await tenantSettings(deps, input.tenantId);
  const request = parseJobRequest(input.request, { maxSubagentsCap: settings.maxWidth });
  workloadOf(request.workload).checkDataset(request.dataset);
  const key = input.idempotencyKey;
  const ref = { tenantId: input.tenantId, jobId: key ? jobIdForKey(input.tenantId, key) : randomUUID() };
  if (key) {
    const existing = await claimKey(deps, ref, key, request);
    if (existing) return { job: await started(deps, existing), duplicate: true };
  }
  await reserve(deps, ref, request, input.limitConcurrentJobs ? maxConcurrentJobs : undefined);
  const job = jobRecord(ref, request, settings, key);
  if (!(await storeJob(deps, job, request))) {
    const existing = await deps.store.getJob(ref);
    if (existing) return { job: await started(deps, existing), duplicate: true };
  }
  return { job: await startJob(deps, job), duplicate: false };
}

/** Steps 1-2: the settings of an ACTIVE tenant, and its jobs-at-once limit. */
async function tenantSettings(
  deps: AcceptJobDeps,
  tenantId: string,
): Promise<{ settings: JobSettings; maxConcurrentJobs: number }> {
  const tenant = await deps.tenants.getTenant(tenantId);
  if (!tenant) throw new AuthError(`tenant "${tenantId}" does not exist`);
  if (tenant.status !== 'ACTIVE') throw new AuthError(`tenant "${tenantId}" is revoked`, true);
  return {
    settings: jobSettingsOf(tenant, deps.config.maxSubagentsCap),
    maxConcurrentJobs: tenantLimitsOf(tenant).maxConcurrentJobs,
  };
}

/** Step 5: claims the key for this request; returns the job the key already stands for, if any. */
async function claimKey(
  deps: AcceptJobDeps,
  ref: JobRef,
  key: string,
  request: JobRequest,
): Promise<JobRecord | undefined> {
  const hash = requestHash(request);
  const claim = await deps.idempotency.claim(ref.tenantId, key, { jobId: ref.jobId, requestHash: hash });
  if (claim.requestHash !== hash) {
    throw new IdempotencyConflictError(
      `the Idempotency-Key "${key}" was used for job ${claim.jobId} with a different request`,
      claim.jobId,
    );
  }
  return deps.store.getJob(ref);
}

/** Step 6: holds the job's estimate (its subtasks or data items, 10 when it will be decomposed). */
async function reserve(
  deps: AcceptJobDeps,
  ref: JobRef,
  request: JobRequest,
  maxConcurrentJobs: number | undefined,
): Promise<void> {
  const units = request.subtasks?.length ?? request.dataset?.installations?.length ?? 10;
  const estimate = estimateJobCostUsd(
    { subtasks: units, mode: request.mode, stepBudget: deps.config.subagentStepBudget },
    deps.prices ?? KIMI_K25_PRICES,
  );
  await deps.ledger.reserve(ref, estimate, maxConcurrentJobs === undefined ? {} : { maxConcurrentJobs });
}

/**
 * Step 7: stores the job. A write that fails releases the reservation (compensation: money is held
 * only for a job that exists) before the error goes on; a concurrent duplicate's job is false.
 */
async function storeJob(deps: AcceptJobDeps, job: JobRecord, request: JobRequest): Promise<boolean> {
  try {
    return await deps.store.createJob(job, request.subtasks ?? [], request.dataset);
  } catch (error) {
    if (!(await deps.store.getJob(job))) await deps.ledger.release(job);
    throw error;
  }
}

/** The job as stored: the request without its subtasks and data (those are items of their own). */
function jobRecord(ref: JobRef, request: JobRequest, settings: JobSettings, key?: string): JobRecord {
  const { subtasks: _subtasks, dataset: _dataset, ...stored } = request;
  return {
    ...ref,
    status: 'ACCEPTED',
    request: stored,
    acceptedAt: new Date().toISOString(),
    ...(key ? { idempotencyKey: key } : {}),
    maxWidth: settings.maxWidth,
    ...(settings.annealJobs === undefined ? {} : { annealJobs: settings.annealJobs }),
    ...(settings.weights === undefined ? {} : { weights: settings.weights }),
  };
}

/** Step 8: starts the job's execution; a start that fails closes the job FAILED and releases its money. */
async function startJob(deps: AcceptJobDeps, job: JobRecord): Promise<JobRecord> {
  try {
    const { executionId } = await deps.workflow.start(job);
    await deps.store.updateJob(job, { executionId });
    return { ...job, executionId };
  } catch (error) {
    const reason = `the workflow could not be started: ${error instanceof Error ? error.message : String(error)}`;
    await deps.store.finishJob(job, {
      status: 'FAILED',
      finishedAt: new Date().toISOString(),
      error: reason,
    });
    await deps.ledger.settle(job, job.acceptedAt, [], deps.prices ?? KIMI_K25_PRICES);
    throw error;
  }
}

/**
 * A duplicate's job. With {@link StartWait}: once started (or finished). A job left ACCEPTED
 * without an execution past the grace period lost its first delivery mid-way and is started here
 * (the execution's name makes a repeated start a no-op); one still within it is waited for, then
 * SubmissionInProgressError (try again later).
 */
async function started(deps: AcceptJobDeps, job: JobRecord): Promise<JobRecord> {
  const wait = deps.startWait;
  if (!wait) return job;
  let current = job;
  const deadline = Date.now() + wait.waitForStartMs;
  while (current.status === 'ACCEPTED' && !current.executionId) {
    if (Date.now() - Date.parse(current.acceptedAt) > wait.startGraceMs) {
      const { executionId } = await deps.workflow.start(current);
      await deps.store.updateJob(current, { executionId });
      return { ...current, executionId };
    }
    if (Date.now() >= deadline) throw new SubmissionInProgressError(current.jobId);
    await new Promise((resolve) => setTimeout(resolve, 50));
    current = (await deps.store.getJob(current)) ?? current;
  }
  return current;
}
