import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { LimiterClock } from '#shared/adapters/dynamo/limiter-items';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { startKeyTable, useDynaliteTable } from './dynalite-table';

const TABLE = 'Limits';

/**
 * What the DynamoDB limiter learns from how calls ended, against dynalite: a success clears the
 * failures in a row and raises the adaptive ceiling, a 429 lowers it once per lease lifetime.
 */
describe('DynamoRateLimiter call outcomes', () => {
  const table = useDynaliteTable(() => startKeyTable(TABLE));
  let keyNo = 0;

  const policy: LimiterPolicy = {
    limits: { maxConcurrency: 4, rpm: undefined, tpm: undefined, windowMs: 60_000 },
    orchestratorShare: 0,
    leaseMs: 30_000,
    cooldownMs: 100,
    breakerFailures: 3,
    breakerOpenMs: 1_000,
  };
  const ask = { role: 'subagent', tenantId: 't', estimatedTokens: 1 } as const;
  const freshKey = () => providerPartitionKey(`http://127.0.0.1/outcomes/${++keyNo}/v1`, 'key');
  const limiter = (pk: string, clock: LimiterClock) =>
    new DynamoRateLimiter({
      client: table.doc,
      tableName: TABLE,
      pk,
      policy,
      maxWaitMs: 5_000,
      pollMs: 10,
      clock,
      random: () => 0.5,
    });
  /** A limiter (`p`, default the file's policy) on a client that records the updates and counts the puts it sends. */
  const countingLimiter = (pk: string, clock: LimiterClock, p: LimiterPolicy = policy) => {
    const updates: { UpdateExpression?: string; ConditionExpression?: string }[] = [];
    const sent = { puts: 0 };
    const counting = {
      send: (command: {
        input: { UpdateExpression?: string; ConditionExpression?: string; Item?: unknown };
      }) => {
        if (command.input.UpdateExpression !== undefined) updates.push(command.input);
        if (command.input.Item !== undefined) sent.puts++;
        return table.doc.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const only = new DynamoRateLimiter({
      client: counting,
      tableName: TABLE,
      pk,
      policy: p,
      maxWaitMs: 5_000,
      pollMs: 10,
      clock,
    });
    return { only, updates, sent };
  };
  /** The file's policy with a TPM of 10,000 in a 9.8 s window: a token costs 1 ms of clock (at the 98 % safety). */
  const paced: LimiterPolicy = { ...policy, limits: { ...policy.limits, tpm: 10_000, windowMs: 9_800 } };
  const rateItem = async (pk: string) =>
    (
      await table.doc.send(
        new GetCommand({ TableName: TABLE, Key: { pk, sk: 'RATE' }, ConsistentRead: true }),
      )
    ).Item;

  it('clears the failures in a row after a success, keeping their total', async () => {
    // Prepare: two failures in a row, one short of opening the circuit
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    for (let i = 0; i < 2; i++)
      await only.release(await only.acquire(ask), { kind: 'failure', reason: 'boom' });
    expect(await rateItem(pk)).toMatchObject({ failures: 2, failuresTotal: 2 });
    // Act
    await only.release(await only.acquire(ask), { kind: 'success', tokens: 1 });
    // Assess
    expect(await rateItem(pk)).toMatchObject({ failures: 0, failuresTotal: 2 });
    const { state } = await only.snapshot();
    expect(state).toMatchObject({ consecutiveFailures: 0, breaker: 'closed', totals: { failures: 2 } });
  });

  it('opens the circuit after as many failures in a row as the policy says, not before', async () => {
    // Prepare
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    for (let i = 0; i < 2; i++)
      await only.release(await only.acquire(ask), { kind: 'failure', reason: 'boom' });
    expect((await rateItem(pk))?.breaker).toBeUndefined();
    // Act
    await only.release(await only.acquire(ask), { kind: 'failure', reason: 'boom again' });
    // Assess
    expect(await rateItem(pk)).toMatchObject({
      breaker: 'open',
      openedAt: T0,
      openedBy: 'boom again',
      failures: 3,
    });
  });

  it('keeps the first 500 characters of what the failure that opened the circuit said', async () => {
    // Prepare: two failures in a row already
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    for (let i = 0; i < 2; i++)
      await only.release(await only.acquire(ask), { kind: 'failure', reason: 'boom' });
    // Act
    await only.release(await only.acquire(ask), { kind: 'failure', reason: 'x'.repeat(600) });
    // Assess
    expect((await rateItem(pk))?.openedBy).toBe('x'.repeat(500));
  });

  it('lowers the ceiling on a 429 and raises it by one over the ceiling after a success at the ceiling', async () => {
    // Prepare: a 429 with one call in flight takes the ceiling to 1 (70 % of 1, at least 1)
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    await only.release(await only.acquire(ask), { kind: 'rate-limited', retryAfterMs: 200 });
    expect(await rateItem(pk)).toMatchObject({
      ceiling: 1,
      cooldownUntil: T0 + 200,
      decreases: 1,
      // idle keys go through the table's TTL a week after their last write
      ttl: Math.floor(T0 / 1000) + 7 * 24 * 3600,
    });
    // Act: the next call (after the cooldown) had every usable slot but its own taken: at the ceiling
    const lease = await only.acquire(ask);
    await only.release(lease, { kind: 'success', tokens: 1 });
    // Assess
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + 200);
    expect((await rateItem(pk))?.ceiling).toBe(2);
  });

  it.each([
    ['a millisecond ago', 1],
    ['at this very millisecond', 0],
  ])(
    'counts only the live leases as in use when a 429 lowers the ceiling (dead ones ended %s)',
    async (_, pastEnd) => {
      // Prepare: two callers that died holding their slots, a lease ago
      const clock = new SteppingClock();
      const pk = freshKey();
      const only = limiter(pk, clock);
      for (let i = 0; i < 2; i++) await only.acquire(ask);
      clock.t += policy.leaseMs + pastEnd;
      const lease = await only.acquire(ask);
      expect((await only.snapshot()).state.leases).toEqual({
        [lease.id]: {
          slot: 0,
          id: lease.id,
          role: 'subagent',
          tenantId: 't',
          acquiredAt: clock.now(),
          expiresAt: clock.now() + policy.leaseMs,
        },
      });
      // Act
      await only.release(lease, { kind: 'rate-limited' });
      // Assess: one call in use (its own), not three: 70 % of 1, at least 1
      expect((await rateItem(pk))?.ceiling).toBe(1);
    },
  );

  it('leaves a lowered ceiling alone after a success with slots to spare', async () => {
    // Prepare: a 429 with 4 calls in use lowers the ceiling to 2.8; a lease later, a call takes
    // one of its 2 usable slots
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await only.acquire(ask));
    await only.release(held[0]!, { kind: 'rate-limited' });
    for (const lease of held.slice(1)) await only.release(lease, { kind: 'success', tokens: 1 });
    expect((await rateItem(pk))?.ceiling).toBeCloseTo(2.8);
    clock.t += policy.leaseMs;
    const lease = await only.acquire(ask);
    // Act
    await only.release(lease, { kind: 'success', tokens: 1 });
    // Assess
    expect((await rateItem(pk))?.ceiling).toBeCloseTo(2.8);
  });

  it('writes nothing but its slot for a plain success (no failures, no probe, no ceiling to raise)', async () => {
    // Prepare: a client that counts the updates
    const clock = new SteppingClock();
    const { only, updates, sent } = countingLimiter(freshKey(), clock);
    const lease = await only.acquire(ask);
    updates.length = 0;
    // Act
    await only.release(lease, { kind: 'success', tokens: 1 });
    // Assess: one write, the slot's lease removed (well inside the lease: no condition)
    expect(updates).toHaveLength(1);
    expect(updates[0]?.UpdateExpression).toBe('REMOVE #l0 SET #ttl = :ttl');
    expect(updates[0]?.ConditionExpression).toBeUndefined();
    expect(sent.puts).toBe(0);
    expect(await only.snapshot()).toMatchObject({ state: { leases: {}, totals: { granted: 1 } } });
  });

  it('reads a stored ceiling above the configured concurrency as the configured one (a lower tier applies at once)', async () => {
    // Prepare: a ceiling raised under a tier of 10 calls
    const clock = new SteppingClock();
    const pk = freshKey();
    await table.doc.send(
      new PutCommand({ TableName: TABLE, Item: { pk, sk: 'RATE', ceiling: 10, waiters: {}, shifts: [] } }),
    );
    // Act
    const { state } = await limiter(pk, clock).snapshot();
    // Assess
    expect(state.ceiling).toBe(policy.limits.maxConcurrency);
  });

  it('lowers the ceiling once for the calls already in flight when a 429 came, counting every 429', async () => {
    // Prepare: two calls in flight
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    const [first, second] = [await only.acquire(ask), await only.acquire(ask)];
    clock.t += 10;
    // Act: both answer 429, one after the other
    await only.release(first, { kind: 'rate-limited' });
    clock.t += 10;
    await only.release(second, { kind: 'rate-limited' });
    // Assess: the first 429 saw 2 calls in use (70 %: 1.4); the second call began before that decrease
    expect(await rateItem(pk)).toMatchObject({
      ceiling: 1.4,
      lastDecreaseAt: T0 + 10,
      cooldownUntil: T0 + 20 + policy.cooldownMs,
      rateLimited: 2,
      decreases: 1,
    });
  });

  it('writes only its slot and the 429 for a call answered 429 on a key without pacing and with a closed circuit', async () => {
    // Prepare
    const clock = new SteppingClock();
    const { only, updates } = countingLimiter(freshKey(), clock);
    const lease = await only.acquire(ask);
    updates.length = 0;
    // Act
    await only.release(lease, { kind: 'rate-limited', retryAfterMs: 200 });
    // Assess: no clock to push, no probe to close
    expect(updates.map((u) => u.UpdateExpression)).toEqual([
      'REMOVE #l0 SET #ttl = :ttl',
      expect.stringMatching(/^SET cooldownUntil = :until, ceiling = :ceiling/),
    ]);
  });

  it('writes only its slot for a call the provider refused (a 4xx) that was not the probe', async () => {
    // Prepare
    const clock = new SteppingClock();
    const { only, updates } = countingLimiter(freshKey(), clock);
    const lease = await only.acquire(ask);
    updates.length = 0;
    // Act
    await only.release(lease, { kind: 'rejected' });
    // Assess
    expect(updates.map((u) => u.UpdateExpression)).toEqual(['REMOVE #l0 SET #ttl = :ttl']);
  });

  it('pushes the pacing clock of a paced key to the end of the cooldown a 429 sets', async () => {
    // Prepare: one call of one token (1 ms of clock)
    const clock = new SteppingClock();
    const pk = freshKey();
    const { only } = countingLimiter(pk, clock, paced);
    const lease = await only.acquire(ask);
    expect((await rateItem(pk))?.tat).toBeLessThan(clock.now() + 5_000);
    // Act
    await only.release(lease, { kind: 'rate-limited', retryAfterMs: 5_000 });
    // Assess: no ticket starts before the cooldown ends
    const item = await rateItem(pk);
    expect(item?.cooldownUntil).toBe(clock.now() + 5_000);
    expect(item?.tat).toBe(item?.cooldownUntil);
  });

  it('gives back a single millisecond of clock when a paced call used one token (1 ms) fewer than it estimated', async () => {
    // Prepare: a call estimated at 10 tokens, nobody queued behind it
    const clock = new SteppingClock();
    const pk = freshKey();
    const { only } = countingLimiter(pk, clock, paced);
    const lease = await only.acquire({ ...ask, estimatedTokens: 10 });
    const tatAfterTicket = (await rateItem(pk))?.tat as number;
    // Act
    await only.release(lease, { kind: 'success', tokens: 9 });
    // Assess
    expect((await rateItem(pk))?.tat).toBe(tatAfterTicket - 1);
  });
});
