import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  estimateTokens,
  type ProviderLimits,
  reservedForOrchestrator,
  usableConcurrency,
} from '#shared/domain/provider-limits';

describe('usableConcurrency and reservedForOrchestrator', () => {
  const limits: ProviderLimits = { maxConcurrency: 10, rpm: undefined, tpm: undefined, windowMs: 60_000 };

  it.each([
    [12.5, 10],
    [7.9, 7],
    [0.4, 1],
  ])('uses the floor of ceiling %d within [1, maxConcurrency]: %i', (ceiling, usable) => {
    expect(usableConcurrency(ceiling, limits)).toBe(usable);
  });

  it('reserves a share (at least one) for orchestrators, none when there is one slot', () => {
    expect(reservedForOrchestrator(50, 0.1)).toBe(5);
    expect(reservedForOrchestrator(4, 0.1)).toBe(1);
    expect(reservedForOrchestrator(1, 0.1)).toBe(0);
    expect(reservedForOrchestrator(10, 0)).toBe(0);
  });

  it('estimates a request at 4 characters a token plus its output budget', () => {
    expect(estimateTokens(400, 200)).toBe(300);
    expect(estimateTokens(401, undefined)).toBe(1_101);
  });
});

describe('backoffMs', () => {
  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [10, 1_000],
  ])('retry %i waits uniformly up to min(cap, base·2^(n−1)) = %i', (retry, ceiling) => {
    const opts = { baseMs: 100, capMs: 1_000 };
    expect(backoffMs(retry, opts, () => 0)).toBe(0);
    expect(backoffMs(retry, opts, () => 0.999999)).toBe(ceiling - 1);
    expect(backoffMs(retry, opts, () => 0.5)).toBe(ceiling / 2);
  });

  it('never waits less than Retry-After', () => {
    expect(backoffMs(1, { baseMs: 100, capMs: 1_000, retryAfterMs: 3_000 }, () => 0.5)).toBe(3_000);
  });
});
