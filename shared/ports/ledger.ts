import type { PriceTable, StepRecord } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';

/** What one finished job cost, frozen once at settlement so every retry uses the same figures. */
export interface JobCharge {
  period: string;
  jobs: number;
  calls: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  costUsd: number;
  /**
   * What the job cost on AWS (estimated, `metrics.awsCostUsd`): reported beside the tokens' cost,
   * never charged to the tenant's budget.
   */
  awsCostUsd?: number;
  /** When the charge was frozen (epoch ms). */
  settledAt?: number;
}

/** A tenant's usage in one period (`YYYY-MM`). */
export interface UsageSummary extends Omit<JobCharge, 'period' | 'settledAt'> {
  tenantId: string;
  period: string;
}

/** Why a job's model calls were stopped: how its execution ended (a tenant's cancel: ABORTED). */
export interface CallStop {
  status: 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  reason?: string;
}

/** What a new job's reservation is held within, besides the tenant's balance. */
export interface ReserveOptions {
  /** The tenant's jobs-at-once limit: TenantLimitError when as many jobs hold a reservation already. */
  maxConcurrentJobs?: number;
}

/**
 * The money of jobs: reserve before start, draw per model call, settle once at the end.
 * The tenant's available balance only moves through conditional writes, so it never goes below zero.
 */
export interface BudgetLedger {
  /**
   * Holds `estimateUsd` of the tenant's balance for the job. Idempotent per job (a second call for
   * the same job holds nothing more). Throws BudgetExceededError when the balance cannot cover it,
   * TenantLimitError when `opts.maxConcurrentJobs` jobs of the tenant hold a reservation already.
   * The job counts as active (the tenant's `activeJobs`) until it is settled or released.
   */
  reserve(ref: JobRef, estimateUsd: number, opts?: ReserveOptions): Promise<void>;
  /**
   * Takes the most a model call can cost from the job's reservation, topping it up from the
   * tenant's balance when short. Returns what was authorized (0 for a job without a budget, e.g.
   * local runs). Throws BudgetExceededError when neither can cover it. `caller` (the sub-agent's id)
   * spreads a job's calls over its budget's shards: give {@link completeCall} the same.
   */
  authorizeCall(ref: JobRef, maxUsd: number, caller?: string): Promise<number>;
  /**
   * Returns the unused part of an authorization to the job's reservation and counts the call as
   * ended. Returns the job's {@link CallStop} when this was the last call in flight of a stopped job
   * (whoever gets it closes the job), else undefined. `caller`: the one given to {@link authorizeCall}.
   */
  completeCall(
    ref: JobRef,
    authorizedUsd: number,
    actualUsd: number,
    caller?: string,
  ): Promise<CallStop | undefined>;
  /**
   * Stops the job's model calls: from now on {@link authorizeCall} refuses (CallsStoppedError).
   * Returns how many authorized calls are still in flight; with none the caller closes the job,
   * else the last of them does (through {@link completeCall}). Idempotent; the first stop is kept.
   */
  stopCalls(ref: JobRef, stop: CallStop): Promise<number>;
  /**
   * Charges the job's real cost (from its step records), releases the rest of its reservation,
   * and records its usage. Exactly once per job, however often it is called.
   */
  settle(
    ref: JobRef,
    acceptedAt: string,
    steps: readonly StepRecord[],
    prices: PriceTable,
    report?: { awsCostUsd?: number | undefined },
  ): Promise<void>;
  /**
   * Gives the job's reservation back whole and records no usage: the compensation for a job that
   * was reserved for but never stored. Idempotent; a no-op once the job was settled.
   */
  release(ref: JobRef): Promise<void>;
  /** The tenant's usage in a period: the sum of its settled jobs (kept as monthly counters). */
  usage(tenantId: string, period: string): Promise<UsageSummary>;
}
