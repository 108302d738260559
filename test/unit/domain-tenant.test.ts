/**
 * The tenant rules an operator or a bill would notice: the limits and weights an operator may set,
 * what a tenant's jobs carry, and the money figures (worked out by hand here, from the price table).
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RequestValidationError } from '#shared/domain/errors';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import {
  apiKeyMatches,
  checkTenantLimit,
  checkWeights,
  DEFAULT_TENANT_LIMITS,
  estimateJobCostUsd,
  hashApiKey,
  jobSettingsOf,
  maxCallCostUsd,
  type Tenant,
  tenantLimitsOf,
  tenantOfApiKey,
  usagePeriod,
  usd,
} from '#shared/domain/tenant';

const tenant = (over: Partial<Tenant> = {}): Tenant => ({
  tenantId: 't-000000000001',
  name: 'acme',
  status: 'ACTIVE',
  createdAt: '2026-12-02T00:00:00.000Z',
  keyHash: 'h',
  budgetUsd: 10,
  availableUsd: 10,
  reservedUsd: 0,
  spentUsd: 0,
  maxSubagents: 30,
  ...over,
});

/** The validation error `fn` throws, or a failure when it throws none. */
const refusal = (fn: () => unknown): RequestValidationError => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RequestValidationError);
    return error as RequestValidationError;
  }
  return expect.unreachable('accepted');
};

describe('tenant limits', () => {
  it('gives a tenant that sets none 50 requests a second and 20 jobs at once, and its own where set', () => {
    expect(tenantLimitsOf({})).toEqual({ requestsPerSecond: 50, maxConcurrentJobs: 20 });
    expect(DEFAULT_TENANT_LIMITS).toEqual({ requestsPerSecond: 50, maxConcurrentJobs: 20 });
    expect(tenantLimitsOf({ requestsPerSecond: 5 })).toEqual({ requestsPerSecond: 5, maxConcurrentJobs: 20 });
    expect(tenantLimitsOf({ maxConcurrentJobs: 3 })).toEqual({ requestsPerSecond: 50, maxConcurrentJobs: 3 });
  });

  it.each([
    ['requestsPerSecond', 1],
    ['requestsPerSecond', 10_000],
    ['maxConcurrentJobs', 1],
    ['maxConcurrentJobs', 10_000],
  ] as const)('accepts %s = %d (the ends of the range)', (name, value) => {
    expect(checkTenantLimit(name, value)).toBe(value);
  });

  it.each([
    ['requestsPerSecond', 0],
    ['requestsPerSecond', 10_001],
    ['maxConcurrentJobs', 0],
    ['maxConcurrentJobs', 10_001],
    ['maxConcurrentJobs', 2.5],
    ['requestsPerSecond', Number.NaN],
  ] as const)('refuses %s = %d, naming the field and the range', (name, value) => {
    const error = refusal(() => checkTenantLimit(name, value));
    expect(error.field).toBe(name);
    expect(error.reason).toBe('must be an integer from 1 to 10000');
  });
});

describe('API keys', () => {
  const key = `parl_t-0123456789ab_${'A'.repeat(32)}`;

  it('stores the SHA-256 of a key in hex', () => {
    expect(hashApiKey(key)).toBe(createHash('sha256').update(key).digest('hex'));
  });

  it('reads no tenant from a key with anything before or after it', () => {
    expect(tenantOfApiKey(key)).toBe('t-0123456789ab');
    expect(tenantOfApiKey(`x${key}`)).toBeUndefined();
    expect(tenantOfApiKey(`${key}x`)).toBeUndefined();
  });

  it('refuses a key against a stored hash of another length, without throwing', () => {
    expect(apiKeyMatches(key, 'abcd')).toBe(false);
    expect(apiKeyMatches(key, '')).toBe(false);
  });
});

describe('job settings of a tenant', () => {
  it("caps the width at the service's cap and carries only the settings the tenant has", () => {
    // Strictly: a setting the tenant has not set is absent, not undefined (the job item would carry it).
    expect(jobSettingsOf(tenant({ maxSubagents: 30 }), 20)).toStrictEqual({ maxWidth: 20 });
    expect(jobSettingsOf(tenant({ maxSubagents: 8 }), 20)).toStrictEqual({ maxWidth: 8 });
    const weights = { parallel: 0.5, finish: 0.3, perf: 0.2 };
    expect(jobSettingsOf(tenant({ annealJobs: 0, weights }), 20)).toEqual({
      maxWidth: 20,
      annealJobs: 0,
      weights,
    });
  });
});

describe('reward weights', () => {
  it.each([
    { parallel: 0.4, finish: 0.35, perf: 0.25 },
    { parallel: 1, finish: 0, perf: 0 },
    { parallel: 0, finish: 0, perf: 1 },
    // 0.1 + 0.2 + 0.7 is 0.9999999999999999 in floating point: still a sum of 1.
    { parallel: 0.1, finish: 0.2, perf: 0.7 },
  ])('accepts %j and keeps only the three weights', (w) => {
    expect(checkWeights({ ...w, extra: 1 } as typeof w)).toEqual(w);
  });

  it.each([
    { parallel: -0.1, finish: 0.6, perf: 0.5 },
    { parallel: 1.1, finish: -0.05, perf: -0.05 },
    { parallel: 0.6, finish: 0.6, perf: -0.2 },
    { parallel: 0.5, finish: 0.5, perf: Number.NaN },
    { parallel: 0.5, finish: 0.5, perf: Number.POSITIVE_INFINITY },
    { parallel: 0.5, finish: 0.3, perf: 0.1 },
    { parallel: 0.5, finish: 0.5, perf: 0.5 },
    { parallel: 0.4, finish: 0.35, perf: 0.25 + 1e-6 },
  ])('refuses %j, naming weights', (w) => {
    const error = refusal(() => checkWeights(w));
    expect(error.field).toBe('weights');
    expect(error.reason).toBe('must be three numbers from 0 to 1 (parallel, finish, perf) that sum to 1');
  });
});

describe('money', () => {
  it('rounds to micro-dollars', () => {
    expect(usd(0.1234564)).toBe(0.123456);
    expect(usd(0.1234566)).toBe(0.123457);
    expect(usd(2)).toBe(2);
  });

  it('bounds a call by its prompt at 2 characters a token plus 64, and its output budget', () => {
    // (ceil(100 / 2) + 64) × $0.60 + 1,000 × $3.00, per million tokens = $0.0030684 → $0.003068.
    expect(maxCallCostUsd(100, 1000, KIMI_K25_PRICES)).toBe(0.003068);
    // ceil(101 / 2) + 64 = 115 tokens × $0.60 per million.
    expect(maxCallCostUsd(101, 0, KIMI_K25_PRICES)).toBe(0.000069);
  });

  it('reserves four steps a subtask (fewer if the step budget is lower) plus the orchestrator', () => {
    // A step: 1,500 in × $0.60 + 300 out × $3.00 per million = $0.0018; the orchestrator:
    // 2 × (4,000 × $0.60 + 1,000 × $3.00) per million = $0.0108.
    expect(estimateJobCostUsd({ subtasks: 5, mode: 'parl', stepBudget: 6 }, KIMI_K25_PRICES)).toBe(0.0468);
    expect(estimateJobCostUsd({ subtasks: 5, mode: 'sequential', stepBudget: 2 }, KIMI_K25_PRICES)).toBe(
      0.0288,
    );
    expect(estimateJobCostUsd({ subtasks: 0, mode: 'parl', stepBudget: 6 }, KIMI_K25_PRICES)).toBe(0.018);
  });

  it('books usage in the UTC month of the timestamp', () => {
    expect(usagePeriod('2026-12-31T23:59:59.999Z')).toBe('2026-12');
    expect(usagePeriod('2027-01-01T00:00:00.000Z')).toBe('2027-01');
  });
});
