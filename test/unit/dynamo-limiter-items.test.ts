import { getEventListeners } from 'node:events';
import { ThrottlingException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LimiterItems, realLimiterClock } from '#shared/adapters/dynamo/limiter-items';
import { LimiterTimeoutError } from '#shared/domain/errors';
import type { ProviderLimits } from '#shared/domain/provider-limits';
import { SteppingClock, T0 } from './stepping-clock';

const limits: ProviderLimits = { maxConcurrency: 1, rpm: undefined, tpm: undefined, windowMs: 60_000 };

/** Where a promise stands, read without waiting for it. */
function watch(promise: Promise<unknown>) {
  const seen = { state: 'pending' as 'pending' | 'resolved' | 'rejected' };
  promise.then(
    () => {
      seen.state = 'resolved';
    },
    () => {
      seen.state = 'rejected';
    },
  );
  return seen;
}

describe('realLimiterClock.sleep', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves once its pause has passed, not before, with no signal to listen to', async () => {
    // Prepare
    const sleep = watch(realLimiterClock.sleep(1_000));
    // Act
    await vi.advanceTimersByTimeAsync(999);
    const before = sleep.state;
    await vi.advanceTimersByTimeAsync(1);
    // Assess
    expect(before).toBe('pending');
    expect(sleep.state).toBe('resolved');
  });

  it('ends at once when its signal aborts, leaving no timer and no listener behind', async () => {
    // Prepare
    const abort = new AbortController();
    const sleep = watch(realLimiterClock.sleep(10_000, abort.signal));
    await vi.advanceTimersByTimeAsync(0);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(1);
    // Act
    abort.abort();
    await vi.advanceTimersByTimeAsync(0);
    // Assess
    expect(sleep.state).toBe('resolved');
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });

  it('stops listening to its signal when the pause ends first', async () => {
    // Prepare
    const abort = new AbortController();
    const sleep = watch(realLimiterClock.sleep(100, abort.signal));
    // Act
    await vi.advanceTimersByTimeAsync(100);
    // Assess
    expect(sleep.state).toBe('resolved');
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });
});

describe('LimiterItems requests', () => {
  it('keeps a moving average of its round trips, a fifth of the newest one to four fifths of the average', async () => {
    // Prepare: every request takes 20 ms of the clock; the average starts at 5 ms
    const clock = new SteppingClock();
    const client = {
      send: () => {
        clock.t += 20;
        return Promise.resolve({});
      },
    } as unknown as DynamoDBDocumentClient;
    const items = new LimiterItems(client, 'Limits', 'PROVIDER#stub', limits, clock, () => 0.5);
    expect(items.rttMs).toBe(5);
    // Act
    await items.readRate(T0 + 1_000);
    const afterOne = items.rttMs;
    await items.readRate(T0 + 1_000);
    // Assess
    expect(afterOne).toBeCloseTo(0.8 * 5 + 0.2 * 20, 9);
    expect(items.rttMs).toBeCloseTo(0.8 * 8 + 0.2 * 20, 9);
  });

  it('says why it gave up on a table that throttled it until the deadline', async () => {
    // Prepare: every request throttled; the first pause (187.5 ms with the jitter at its middle) ends past the deadline
    const client = {
      send: () => Promise.reject(new ThrottlingException({ message: 'slow down', $metadata: {} })),
    } as unknown as DynamoDBDocumentClient;
    const items = new LimiterItems(client, 'Limits', 'PROVIDER#stub', limits, new SteppingClock(), () => 0.5);
    // Act
    const read = items.readRate(T0 + 100);
    // Assess
    await expect(read).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(read).rejects.toMatchObject({
      reason: 'throttled',
      message: "the limiter's table kept throttling its requests until the maximum wait",
    });
  });
});
