import { createHash, randomUUID } from 'node:crypto';
import { IdempotencyConflictError } from '#shared/domain/errors';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import { estimateJobCostUsd, type JobSettings } from '#shared/domain/tenant';
import type { JobRequest, PriceTable } from '#shared/domain/types';
import { workloadOf } from '#shared/domain/workloads/registry';
import type { IdempotencyStore } from '#shared/ports/idempotency';
import type { JobRecord, JobStore } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { WorkflowStarter } from '#shared/ports/workflow';

export interface SubmitDeps {
  store: JobStore;
  starter: WorkflowStarter;
  /** With a ledger the job reserves its estimated cost before it starts (tenants with budgets). */
  ledger?: BudgetLedger;
  /** Needed when submissions carry idempotency keys. */
  idempotency?: IdempotencyStore;
  prices?: PriceTable;
  /** Model calls a sub-agent may make per subtask (sizes the reservation). */
  stepBudget?: number;
}

/** A submission: with the tenant's job settings when it has them (cap, annealing, λ). */
export interface SubmitInput extends Partial<JobSettings> {
  tenantId: string;
  request: JobRequest;
  /** Fixed job id (tests, local runs); ignored when an idempotency key is given. */
  jobId?: string;
  /** The same key with the same request returns the same job; with another request, a conflict. */
  idempotencyKey?: string;
}

export interface SubmitOutcome {
  job: JobRecord;
  /** True when the job already existed for this idempotency key (nothing new was started or charged). */
  duplicate: boolean;
}

/** A stable hash of a validated request (the same JSON for the same request). */
export function requestHash(request: JobRequest): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

/** The job id an idempotency key stands for: the same tenant and key always give the same id. */
export function jobIdForKey(tenantId: string, key: string): string {
  const h = createHash('sha256').update(`${tenantId}\n${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Accepts a validated job request for a tenant and starts its workflow; every step is idempotent
 * per job, so a duplicate (retried POST, redelivered message), sequential or concurrent, creates,
 * charges and starts nothing twice.
 *
 * 1. check the workload's data (e.g. every installation has a string id)
 * 2. with an idempotency key: the job id comes from the key; claim the key with the request's
 *    hash (another request under the same key → IdempotencyConflictError); an existing job is
 *    returned as it is
 * 3. reserve the estimated cost from the tenant's budget (BudgetExceededError: nothing stored)
 * 4. store the job as ACCEPTED with its subtasks and data (a concurrent duplicate loses here)
 * 5. start the workflow; the execution is named after the job, so one job never runs twice
 * 6. if the start fails, store the job as FAILED with the reason and release its reservation
 */
export async function submitJob(deps: SubmitDeps, input: SubmitInput): Promise<SubmitOutcome> {
  const { subtasks, dataset, ...request } = input.request;
  const workload = workloadOf(request.workload);
  workload.checkDataset(dataset);
  const key = input.idempotencyKey;
  const jobId = key ? jobIdForKey(input.tenantId, key) : (input.jobId ?? randomUUID());
  const ref = { tenantId: input.tenantId, jobId };
  if (key) {
    if (!deps.idempotency) throw new TypeError('submitJob needs an idempotency store for keyed requests');
    const hash = requestHash(input.request);
    const claim = await deps.idempotency.claim(input.tenantId, key, { jobId, requestHash: hash });
    if (claim.requestHash !== hash) {
      throw new IdempotencyConflictError(
        `the Idempotency-Key "${key}" was used for job ${claim.jobId} with a different request`,
        claim.jobId,
      );
    }
    const existing = await deps.store.getJob(ref);
    if (existing) return { job: existing, duplicate: true };
  }

  if (deps.ledger) {
    const units = subtasks?.length ?? workload.datasetUnits(dataset) ?? 10;
    await deps.ledger.reserve(
      ref,
      estimateJobCostUsd(
        { subtasks: units, mode: request.mode, stepBudget: deps.stepBudget ?? 6 },
        deps.prices ?? KIMI_K25_PRICES,
      ),
    );
  }

  const job: JobRecord = {
    ...ref,
    status: 'ACCEPTED',
    request,
    acceptedAt: new Date().toISOString(),
    ...(key ? { idempotencyKey: key } : {}),
    ...(input.maxWidth === undefined ? {} : { maxWidth: input.maxWidth }),
    ...(input.annealJobs === undefined ? {} : { annealJobs: input.annealJobs }),
    ...(input.weights === undefined ? {} : { weights: input.weights }),
  };
  const created = await deps.store.createJob(job, subtasks ?? [], dataset);
  if (!created) {
    const existing = await deps.store.getJob(ref);
    if (existing) return { job: existing, duplicate: true };
  }
  try {
    const { executionId } = await deps.starter.start(job);
    await deps.store.updateJob(job, { executionId });
    return { job: { ...job, executionId }, duplicate: false };
  } catch (error) {
    const reason = `the workflow could not be started: ${error instanceof Error ? error.message : String(error)}`;
    await deps.store.finishJob(job, {
      status: 'FAILED',
      finishedAt: new Date().toISOString(),
      error: reason,
    });
    await deps.ledger?.settle(job, job.acceptedAt, [], deps.prices ?? KIMI_K25_PRICES);
    throw error;
  }
}
