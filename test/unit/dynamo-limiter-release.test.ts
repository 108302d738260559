import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { LimiterClock } from '#shared/adapters/dynamo/limiter-items';
import { HELD_RELEASE_BUDGET_MS } from '#shared/adapters/dynamo/limiter-slots';
import { HELD_RELEASE_MARGIN_MS } from '#shared/adapters/dynamo/limiter-table';
import { DynamoRateLimiter } from '#shared/adapters/dynamo/rate-limiter';
import { LimiterTimeoutError } from '#shared/domain/errors';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import { SteppingClock, T0 } from './stepping-clock';

const PK = 'PROVIDER#stub';

type Input = { UpdateExpression?: string; ExpressionAttributeValues?: Record<string, unknown> };
type Answer = (command: string, input: Input) => unknown;

/**
 * A document client whose answers the test writes: `answer` gets the command's name and input and
 * returns its output or throws. More than 100 requests fail, so a loop without end fails the test.
 */
const stubClient = (answer: Answer) => {
  let sent = 0;
  return {
    send: (command: { constructor: { name: string }; input: Input }) =>
      Promise.resolve().then(() => {
        if (++sent > 100) throw new Error('runaway: more than 100 requests');
        return answer(command.constructor.name, command.input);
      }),
  } as unknown as DynamoDBDocumentClient;
};
const throttled = () => new ThrottlingException({ message: 'slow down', $metadata: {} });
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });
const isClaim = (input: Input) => input.UpdateExpression?.startsWith('SET #l0 = :l0') === true;
const isFree = (input: Input) => input.UpdateExpression?.startsWith('REMOVE #l') === true;

const policy: LimiterPolicy = {
  limits: { maxConcurrency: 1, rpm: undefined, tpm: undefined, windowMs: 60_000 },
  orchestratorShare: 0,
  leaseMs: 30_000,
  cooldownMs: 100,
  breakerFailures: 5,
  breakerOpenMs: 1_000,
};
const limiterOn = (answer: Answer, clock: LimiterClock, maxWaitMs = 5_000) =>
  new DynamoRateLimiter({
    client: stubClient(answer),
    tableName: 'Limits',
    pk: PK,
    policy,
    maxWaitMs,
    pollMs: 10,
    clock,
    random: () => 0.5,
  });
const ask = { role: 'subagent', tenantId: 't', estimatedTokens: 1 } as const;

/**
 * The DynamoDB limiter's answers to what dynalite does not do: a table that throttles or fails,
 * a 429 whose conditional write keeps losing, a slot taken over while its holder waited.
 */
describe('DynamoRateLimiter on a table that misbehaves', () => {
  /** A table with no control item where every slot is free, until `broken` says otherwise. */
  const quietTable = (broken: () => Error | undefined): Answer => {
    return (command) => {
      const error = broken();
      if (error) throw error;
      if (command === 'GetCommand') return {};
      if (command === 'QueryCommand') return { Items: [] };
      return { Attributes: {} };
    };
  };

  it.each([
    ['a pause would end past it', 5_000, 187.5 + 375 + 750 + 1_500],
    ['the last pause ends right at it', 5_812.5, 187.5 + 375 + 750 + 1_500 + 3_000],
  ])(
    'retries a throttled table with growing, jittered pauses, giving up before its maximum wait (%s)',
    async (_name, maxWaitMs, waitedMs) => {
      // Prepare: every request throttled; jitter at its middle (pauses of 187.5, 375, 750, 1,500, 3,000 ms, …)
      const clock = new SteppingClock();
      const limiter = limiterOn(
        quietTable(() => throttled()),
        clock,
        maxWaitMs,
      );
      // Act
      const attempt = limiter.acquire(ask);
      // Assess
      await expect(attempt).rejects.toBeInstanceOf(LimiterTimeoutError);
      await expect(attempt).rejects.toMatchObject({ reason: 'throttled' });
      expect(clock.now() - T0).toBe(waitedMs);
    },
  );

  it('goes on once the table stops throttling, its pauses capped at 5 s', async () => {
    // Prepare: the first nine requests throttled (pauses up to 3.75 s, the cap with the jitter)
    const clock = new SteppingClock();
    let throttles = 9;
    const limiter = limiterOn(
      quietTable(() => (throttles-- > 0 ? throttled() : undefined)),
      clock,
      60_000,
    );
    // Act
    const lease = await limiter.acquire(ask);
    // Assess
    expect(lease.id).toEqual(expect.any(String));
    expect(clock.now() - T0).toBe(187.5 + 375 + 750 + 1_500 + 3_000 + 3_750 * 4);
  });

  it.each([
    [
      'well inside its lease: the unconditioned free, for its 5 s',
      0,
      HELD_RELEASE_BUDGET_MS - 3_000,
      HELD_RELEASE_BUDGET_MS,
    ],
    [
      'near its end: the conditioned free, for the release budget of 30 s',
      policy.leaseMs - HELD_RELEASE_MARGIN_MS,
      25_000,
      30_000,
    ],
  ])(
    'releases without an error when the table throttles it for the whole budget (%s)',
    async (_name, heldMs, atLeastMs, atMostMs) => {
      // Prepare
      let failWith: Error | undefined;
      const clock = new SteppingClock();
      const limiter = limiterOn(
        quietTable(() => (failWith ? throttled() : undefined)),
        clock,
      );
      const lease = await limiter.acquire(ask);
      clock.t += heldMs;
      const releasedAt = clock.now();
      failWith = throttled();
      // Act
      await limiter.release(lease, { kind: 'success', tokens: 1 });
      // Assess: it kept trying for its budget before it let the lease expire on its own
      expect(clock.now() - releasedAt).toBeGreaterThanOrEqual(atLeastMs);
      expect(clock.now() - releasedAt).toBeLessThanOrEqual(atMostMs);
    },
  );

  it('passes on any other error of the table from a release', async () => {
    // Prepare
    let failWith: Error | undefined;
    const limiter = limiterOn(
      quietTable(() => failWith),
      new SteppingClock(),
    );
    const lease = await limiter.acquire(ask);
    failWith = new Error('table gone');
    // Act
    const release = limiter.release(lease, { kind: 'success', tokens: 1 });
    // Assess
    await expect(release).rejects.toThrow('table gone');
  });

  it('gives up recording a 429 after five conditional writes that lost to other writers', async () => {
    // Prepare
    let attempts = 0;
    const limiter = limiterOn((command, input) => {
      if (command === 'GetCommand') return {};
      if (command === 'QueryCommand') return { Items: [] };
      if (input.UpdateExpression?.includes('rateLimited')) {
        attempts++;
        throw conditionFailed();
      }
      return { Attributes: {} };
    }, new SteppingClock());
    const lease = await limiter.acquire(ask);
    // Act
    await limiter.release(lease, { kind: 'rate-limited', retryAfterMs: 1_000 });
    // Assess
    expect(attempts).toBe(5);
  });

  /**
   * One slot, held by another caller at first; when it frees, the caller claims it, then finds a
   * cooldown (`cooldownMs` from its claim, stored in the control item) before it may go.
   */
  const slotThenCooldown = (clock: SteppingClock, cooldownMs: number, more: Answer): Answer => {
    let queries = 0;
    let claimedAt: number | undefined;
    return (command, input) => {
      if (command === 'GetCommand')
        return claimedAt === undefined
          ? {}
          : { Item: { pk: PK, sk: 'RATE', cooldownUntil: claimedAt + cooldownMs, waiters: {}, shifts: [] } };
      if (command === 'QueryCommand') {
        const held = { id: 'other', role: 'subagent', tenantId: 'u', acquiredAt: T0, expiresAt: T0 + 30_000 };
        return { Items: queries++ === 0 ? [{ pk: PK, sk: 'SLOT#00000', l0: held, u0: 1 }] : [] };
      }
      if (isClaim(input) && queries === 0) throw conditionFailed();
      const out = more(command, input);
      if (isClaim(input)) claimedAt ??= clock.now();
      return out;
    };
  };

  it('frees the slot it took when a cooldown outlasts its wait, retrying a throttled table', async () => {
    // Prepare: the first attempt to free the slot is throttled
    const clock = new SteppingClock();
    let frees = 0;
    let freed = false;
    const limiter = limiterOn(
      slotThenCooldown(clock, 60_000, (_command, input) => {
        if (isFree(input) && frees++ === 0) throw throttled();
        if (isFree(input)) freed = true;
        return { Attributes: {} };
      }),
      clock,
    );
    // Act
    const attempt = limiter.acquire(ask);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(attempt).rejects.toMatchObject({ reason: 'cooldown' });
    expect(freed).toBe(true);
  });

  it('claims a slot again when the one it held through a cooldown was taken over meanwhile', async () => {
    // Prepare: the slot's lease is lost while the caller waits out a cooldown of a third of a lease
    const clock = new SteppingClock();
    const claims: number[] = [];
    const limiter = limiterOn(
      slotThenCooldown(clock, policy.leaseMs / 3, (_command, input) => {
        if (input.UpdateExpression?.startsWith('SET #l.acquiredAt')) throw conditionFailed();
        if (isClaim(input)) claims.push(clock.now());
        return { Attributes: {} };
      }),
      clock,
      policy.leaseMs,
    );
    // Act
    const lease = await limiter.acquire(ask);
    // Assess: the lease is the second claim's, made after the cooldown
    expect(claims).toHaveLength(2);
    expect(claims[1]).toBeGreaterThanOrEqual((claims[0] ?? 0) + policy.leaseMs / 3);
    expect((lease as unknown as { acquiredAt: number }).acquiredAt).toBe(claims[1]);
  });
  it.each([
    ['ThrottlingException', () => throttled()],
    [
      'ProvisionedThroughputExceededException',
      () => new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }),
    ],
    ['RequestLimitExceeded', () => new RequestLimitExceeded({ message: 'slow down', $metadata: {} })],
  ])('takes DynamoDB’s %s for throttling: it pauses and asks again', async (_name, error) => {
    // Prepare: the first request fails with that error, every later one answers
    const clock = new SteppingClock();
    let failures = 1;
    const limiter = limiterOn(
      quietTable(() => (failures-- > 0 ? error() : undefined)),
      clock,
    );
    // Act
    const lease = await limiter.acquire(ask);
    // Assess: one pause (the first, 187.5 ms with the jitter at its middle), then the lease
    expect(lease.id).toEqual(expect.any(String));
    expect(clock.now() - T0).toBe(187.5);
  });

  it('does not take another error for throttling: it reaches the caller at once', async () => {
    // Prepare
    const clock = new SteppingClock();
    const limiter = limiterOn(
      quietTable(() => new Error('access denied')),
      clock,
    );
    // Act and assess
    await expect(limiter.acquire(ask)).rejects.toThrow('access denied');
    expect(clock.now()).toBe(T0);
  });
});
