/**
 * Tenants, their API keys and their money. Pure rules; storage lives in the tenant store adapter.
 *
 * An API key reads `parl_<tenantId>_<secret>`: the tenant id inside the key lets the authorizer find
 * the tenant's record by a key that leads with the tenant (no global key index), and only the
 * SHA-256 of the whole key is stored.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { RequestValidationError } from './errors';
import type { PriceTable, RewardWeights } from './types';

export type TenantStatus = 'ACTIVE' | 'REVOKED';

/** A tenant as stored. Money is in US dollars; `availableUsd` never goes below zero. */
export interface Tenant {
  tenantId: string;
  name: string;
  status: TenantStatus;
  createdAt: string;
  /** SHA-256 (hex) of the API key. */
  keyHash: string;
  /** What the tenant has paid in (the sum of every budget set). */
  budgetUsd: number;
  /** Not spent and not held by a running job. */
  availableUsd: number;
  /** Held by running jobs (reservations and their top-ups). */
  reservedUsd: number;
  /** Settled cost of finished jobs. */
  spentUsd: number;
  /** Upper bound of a job's `maxSubagents` for this tenant. */
  maxSubagents: number;
  /**
   * Reward shaping: λ1 and λ2 anneal to 0 over this many jobs of each of the tenant's policies
   * (0 = off); unset = the service's default (PARL_ANNEAL_JOBS, itself 0 = off).
   */
  annealJobs?: number;
  /** The tenant's λ1..λ3 of rPARL; unset = the defaults (0.4, 0.35, 0.25). */
  weights?: RewardWeights;
  /** API requests a second at most; unset = {@link DEFAULT_TENANT_LIMITS}. */
  requestsPerSecond?: number;
  /** Jobs holding a reservation at once at most (API submissions); unset = {@link DEFAULT_TENANT_LIMITS}. */
  maxConcurrentJobs?: number;
  /** Jobs holding a reservation now (counted by the budget ledger: reserve adds one, settle or release takes it). */
  activeJobs?: number;
}

/** The settings of a tenant an operator may change. */
export type TenantSettings = Partial<
  Pick<Tenant, 'maxSubagents' | 'annealJobs' | 'weights' | 'requestsPerSecond' | 'maxConcurrentJobs'>
>;

/** A tenant's own limits on the API: requests a second, jobs at once. */
export interface TenantLimits {
  requestsPerSecond: number;
  maxConcurrentJobs: number;
}

/**
 * The limits of a tenant that sets none: the stage-wide 50 requests a second the API had before,
 * now each tenant's own, and 20 jobs at once (a job is tens to thousands of model calls; the
 * provider key's limits are shared by all of them anyway).
 */
export const DEFAULT_TENANT_LIMITS: TenantLimits = { requestsPerSecond: 50, maxConcurrentJobs: 20 };

/** What a tenant's limits may be set to (`parl tenants set-limits`). */
export const TENANT_LIMIT_RANGES = {
  requestsPerSecond: { min: 1, max: 10_000 },
  maxConcurrentJobs: { min: 1, max: 10_000 },
} as const;

/** The tenant's limits: its own where set, else the defaults. */
export function tenantLimitsOf(
  tenant: Pick<Tenant, 'requestsPerSecond' | 'maxConcurrentJobs'>,
): TenantLimits {
  return {
    requestsPerSecond: tenant.requestsPerSecond ?? DEFAULT_TENANT_LIMITS.requestsPerSecond,
    maxConcurrentJobs: tenant.maxConcurrentJobs ?? DEFAULT_TENANT_LIMITS.maxConcurrentJobs,
  };
}

/** Checks a limit an operator sets; names the field. */
export function checkTenantLimit(name: keyof TenantLimits, value: number): number {
  const { min, max } = TENANT_LIMIT_RANGES[name];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RequestValidationError(name, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** The settings a tenant's job carries (API and batch alike). */
export interface JobSettings extends Pick<Tenant, 'annealJobs' | 'weights'> {
  /** Sub-agents at once at most: the tenant's cap within the service's. */
  maxWidth: number;
}

/** What a tenant's jobs carry of its settings; `maxSubagentsCap` is the service's cap. */
export function jobSettingsOf(tenant: Tenant, maxSubagentsCap: number): JobSettings {
  return {
    maxWidth: Math.min(tenant.maxSubagents, maxSubagentsCap),
    ...(tenant.annealJobs === undefined ? {} : { annealJobs: tenant.annealJobs }),
    ...(tenant.weights === undefined ? {} : { weights: tenant.weights }),
  };
}

/** The reward weights a tenant may set: each in [0, 1], summing to 1 (so rPARL stays in [0, 1]). */
export function checkWeights(w: RewardWeights): RewardWeights {
  const parts = [w.parallel, w.finish, w.perf];
  if (
    parts.some((x) => !Number.isFinite(x) || x < 0 || x > 1) ||
    Math.abs(parts.reduce((a, b) => a + b, 0) - 1) > 1e-9
  ) {
    throw new RequestValidationError(
      'weights',
      'must be three numbers from 0 to 1 (parallel, finish, perf) that sum to 1',
    );
  }
  return { parallel: w.parallel, finish: w.finish, perf: w.perf };
}

const TENANT_ID = /^t-[a-z0-9]{12}$/;

/** A new tenant id: `t-` and 12 characters of a-z0-9. */
export function newTenantId(): string {
  return `t-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

export function isTenantId(value: string): boolean {
  return TENANT_ID.test(value);
}

/** A new API key for the tenant; shown once, stored only as its hash. */
export function newApiKey(tenantId: string): string {
  return `parl_${tenantId}_${randomBytes(24).toString('base64url')}`;
}

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/**
 * The tenant id a key claims to belong to, or undefined for a malformed key. Besides the `t-…`
 * tenants, the `local` tenant of `parl run` has a key while `parl serve` runs (it mints one at every
 * start, for its dashboard).
 */
export function tenantOfApiKey(apiKey: string): string | undefined {
  const m = /^parl_(t-[a-z0-9]{12}|local)_[A-Za-z0-9_-]{32}$/.exec(apiKey);
  return m?.[1];
}

/** Compares a presented key with a stored hash in constant time. */
export function apiKeyMatches(apiKey: string, keyHash: string): boolean {
  const a = Buffer.from(hashApiKey(apiKey), 'hex');
  const b = Buffer.from(keyHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Rounds money to micro-dollars so sums of many small costs stay exact in DynamoDB numbers. */
export const usd = (x: number): number => Math.round(x * 1e6) / 1e6;

/** The most a model call can cost: its prompt (counted generously, ~2 characters a token) plus `maxTokens` out. */
export function maxCallCostUsd(promptChars: number, maxTokens: number, prices: PriceTable): number {
  const inputTokens = Math.ceil(promptChars / 2) + 64;
  return usd((inputTokens * prices.inputPerMillion + maxTokens * prices.outputPerMillion) / 1e6);
}

/**
 * The reservation a job takes before it starts: what its model calls typically cost, with a margin.
 * Calls draw from it and top it up from the tenant's balance when it runs short, so a low estimate
 * never lets a job overspend; a high one only holds money until the job settles.
 *
 * Per subtask: a few steps of ~1,500 input tokens and ~300 output tokens; plus the orchestrator.
 */
export function estimateJobCostUsd(
  input: { subtasks: number; mode: 'parl' | 'sequential'; stepBudget: number },
  prices: PriceTable,
): number {
  const units = Math.max(1, input.subtasks);
  const steps = Math.min(input.stepBudget, 4);
  const perStep = (1500 * prices.inputPerMillion + 300 * prices.outputPerMillion) / 1e6;
  const orchestrator = 2 * ((4000 * prices.inputPerMillion + 1000 * prices.outputPerMillion) / 1e6);
  return usd(units * steps * perStep + orchestrator);
}

/** The usage period (`YYYY-MM`, UTC) of an ISO timestamp. */
export const usagePeriod = (iso: string): string => iso.slice(0, 7);
