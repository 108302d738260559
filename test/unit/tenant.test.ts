import { describe, expect, it } from 'vitest';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import {
  apiKeyMatches,
  estimateJobCostUsd,
  hashApiKey,
  isTenantId,
  maxCallCostUsd,
  newApiKey,
  newTenantId,
  tenantOfApiKey,
} from '#shared/domain/tenant';

describe('tenant keys', () => {
  it('makes keys that name their tenant and match only their own hash', () => {
    const tenantId = newTenantId();
    const key = newApiKey(tenantId);
    expect(isTenantId(tenantId)).toBe(true);
    expect(tenantOfApiKey(key)).toBe(tenantId);
    expect(apiKeyMatches(key, hashApiKey(key))).toBe(true);
    expect(apiKeyMatches(newApiKey(tenantId), hashApiKey(key))).toBe(false);
    expect(hashApiKey(key)).not.toContain(key.slice(-32));
  });

  it('reads the local tenant from the key parl serve mints for it', () => {
    expect(tenantOfApiKey(newApiKey('local'))).toBe('local');
  });

  it.each([
    '',
    'parl_',
    'parl_t-abc_x',
    `parl_locals_${'A'.repeat(32)}`,
    `parl_t-000000000000_${'A'.repeat(31)}`,
    'Bearer abc',
  ])('reads no tenant from the malformed key %j', (key) => {
    expect(tenantOfApiKey(key)).toBeUndefined();
  });
});

describe('cost bounds', () => {
  it('bounds a call by its prompt and its output budget', () => {
    const small = maxCallCostUsd(100, 100, KIMI_K25_PRICES);
    const big = maxCallCostUsd(100, 1000, KIMI_K25_PRICES);
    expect(big).toBeGreaterThan(small);
    expect(big).toBeGreaterThanOrEqual((1000 * KIMI_K25_PRICES.outputPerMillion) / 1e6);
  });

  it('estimates more for more subtasks', () => {
    const a = estimateJobCostUsd({ subtasks: 5, mode: 'parl', stepBudget: 6 }, KIMI_K25_PRICES);
    const b = estimateJobCostUsd({ subtasks: 50, mode: 'parl', stepBudget: 6 }, KIMI_K25_PRICES);
    expect(b).toBeGreaterThan(a * 5);
  });
});
