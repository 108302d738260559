import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { DynamoRateLimiter } from '#shared/adapters/dynamo/rate-limiter';
import { LimiterTimeoutError } from '#shared/domain/errors';
import type { LimiterLease } from '#shared/ports/rate-limiter';
import { T0 } from '../unit/stepping-clock';
import {
  base,
  isClaim,
  limiterOnDynalite,
  NET_MS,
  own,
  paced,
  queries,
  reads,
  sub,
  throttled,
  updatesOf,
} from './dynalite-limiter';
import { useDynaliteTable, watchedClient } from './dynalite-table';
import { VirtualClock } from './virtual-clock';

/**
 * How the DynamoDB limiter waits for a slot, against dynalite, on a clock where a sleep moves time
 * at once (or in virtual time): its pauses and its deadline, its waiter marker, the wake-up when a
 * caller of its process gives a slot up, the requests it makes, the leases it counts, when it keeps,
 * lets go or renews a slot it holds.
 */
describe('DynamoRateLimiter slot waits', () => {
  const table = useDynaliteTable();
  const { freshPk, setUp, putRate, setRate, putHeldSlot, item } = limiterOnDynalite(() => table);

  it('waits for a slot with jittered pauses doubling from pollMs, reporting the time from its first refusal to its grant as queued', async () => {
    // Prepare: the one slot held until 300 ms from now; requests take no time
    const { pk, limiter, sent } = setUp(base, { netMs: 0 });
    await putHeldSlot(pk, 0, T0 + 300);
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: looks at the slots at 0, then after 7.5, 15, 30, 60, 120 and 240 ms (pollMs 10, the
    // jitter at its middle); granted at the first look after the holder's lease ended
    expect(queries(sent).map((s) => s.at - T0)).toEqual([0, 7.5, 22.5, 52.5, 112.5, 232.5, 472.5]);
    expect(own(lease).acquiredAt).toBe(T0 + 472.5);
    expect(lease.waitedMs).toBe(473);
    expect(lease.limiterMs).toBe(0);
    // and its waiter's marker is gone once it has its slot
    expect((await item(pk, providerKeys.rate))?.waiters).toEqual({});
  });

  it('counts the round trips of its looks at the slots as queued too, from its first refusal to its grant', async () => {
    // Prepare: the one slot held until 300 ms from now; each request takes 5 ms
    const { pk, limiter, sent } = setUp(base);
    await putHeldSlot(pk, 0, T0 + 300);
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: refused when its first look came back, granted when its claim came back; its pauses
    // alone (7.5 + 15 + 30 + 60 + 120 + 240 ms) would leave out the looks' 5 ms each
    const firstLook = queries(sent)[0]!.at;
    expect(queries(sent)).toHaveLength(7);
    expect(lease.waitedMs).toBe(Math.round(own(lease).acquiredAt + NET_MS - (firstLook + NET_MS)));
    expect(lease.waitedMs).toBeGreaterThan(7.5 + 15 + 30 + 60 + 120 + 240);
  });

  it('cuts its last pause short at its deadline and gives up then, naming what it waited for', async () => {
    // Prepare: the one slot held for long
    const { pk, limiter, clock, sent } = setUp(base, { maxWaitMs: 100, netMs: 0 });
    await putHeldSlot(pk, 0, T0 + 60_000);
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(attempt).rejects.toMatchObject({
      reason: 'concurrency',
      message: "the provider's limiter granted no call within 100 ms (last reason: concurrency)",
    });
    expect(queries(sent).map((s) => s.at - T0)).toEqual([0, 7.5, 22.5, 52.5, 100]);
    expect(clock.now()).toBe(T0 + 100);
  });

  it('refreshes its waiter marker only once less than half its life is left', async () => {
    // Prepare: the slot held for long; pauses of 500 ms, then 1 s (pollMs 1 s, the jitter at its least)
    const { pk, limiter, sent } = setUp(base, {
      maxWaitMs: 10_000,
      pollMs: 1_000,
      random: () => 0,
      netMs: 0,
    });
    await putHeldSlot(pk, 0, T0 + 60_000);
    // Act
    await expect(limiter.acquire(sub)).rejects.toBeInstanceOf(LimiterTimeoutError);
    // Assess: the marker (5 s) written at first, then when 2 s are left (at 2.5 s exactly half is left)
    expect(updatesOf(sent, 'SET waiters.#w').map((s) => s.at - T0)).toEqual([0, 3_500, 6_500, 9_500]);
    expect((await item(pk, providerKeys.rate))?.waiters).toEqual({ 'subagent#t': T0 + 14_500 });
  });

  it('wakes a caller of this process waiting for a slot when another call of it gives one back', async () => {
    // Prepare: one slot, held by a call of this process; virtual time, requests take none
    const clock = new VirtualClock();
    const low = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
    clock.track(low);
    const limiter = new DynamoRateLimiter({
      client: DynamoDBDocumentClient.from(low, { marshallOptions: { removeUndefinedValues: true } }),
      tableName: table.tableName,
      pk: freshPk(),
      policy: base,
      maxWaitMs: 20_000,
      pollMs: 1_000,
      clock,
      random: () => 0.5,
    });
    const start = clock.now();
    // Act: the waiter's first pause is 750 ms; the holder gives its slot back after 100 ms
    const waited = await clock.run(
      (async () => {
        const held = await limiter.acquire(sub);
        const waiting = limiter.acquire(sub);
        await clock.sleep(100);
        await limiter.release(held, { kind: 'success', tokens: 1 });
        return waiting;
      })(),
    );
    // Assess
    expect(waited.waitedMs).toBe(100);
    expect(clock.now()).toBe(start + 100);
  });

  it('wakes a caller of this process waiting for a slot when another lets its slot go for a far ticket', async () => {
    // Prepare: one slot, held by another process until 2 s; virtual time, requests take none. Two
    // callers of one process: x (150 tokens, a ticket of 1.53 s now) and y (1 token, right after it).
    const clock = new VirtualClock();
    const low = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
    clock.track(low);
    const doc = DynamoDBDocumentClient.from(low, { marshallOptions: { removeUndefinedValues: true } });
    const pk = freshPk();
    // When x, which got the slot at 2.25 s, looks at its ticket (void by then), other processes'
    // tickets fill the clock to 1.5 s ahead: x lets the slot go.
    let filled = false;
    const watched = watchedClient(doc, async (command) => {
      if (filled || !(command instanceof GetCommand) || clock.now() < T0 + 2_000) return;
      filled = true;
      await doc.send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: { pk, sk: providerKeys.rate },
          UpdateExpression: 'SET tat = :t',
          ExpressionAttributeValues: { ':t': clock.now() + 1_500 },
        }),
      );
    });
    const limiter = new DynamoRateLimiter({
      client: watched.client,
      tableName: table.tableName,
      pk,
      policy: { ...base, leaseMs: 4_000, limits: { ...base.limits, tpm: 6_000 } },
      maxWaitMs: 20_000,
      pollMs: 1_000,
      clock,
      random: () => 0.5,
    });
    await putRate(pk, { tat: T0, seq: 7 });
    await putHeldSlot(pk, 0, T0 + 2_000);
    // Act: x looks at the slots at 0, 0.75 and 2.25 s; y waits from about 1.52 s, its next look 0.75 s later
    let y: LimiterLease | undefined;
    await clock.run(
      (async () => {
        const x = limiter.acquire({ ...sub, estimatedTokens: 150 });
        y = await limiter.acquire(sub);
        await limiter.release(y, { kind: 'success', tokens: 1 });
        await limiter.release(await x, { kind: 'success', tokens: 150 });
      })(),
    );
    // Assess: y got the slot the moment x let it go, on its first ticket
    expect(filled).toBe(true);
    expect(own(y as LimiterLease).acquiredAt).toBe(T0 + 2_250);
    expect(own(y as LimiterLease).ticket.start).toBeCloseTo(T0 + 1_530.6, 1);
  });

  it.each(['snapshot', 'freeSlots'] as const)('%s retries a read the table throttles', async (method) => {
    // Prepare: the first query throttled
    let throttles = 1;
    const { limiter, clock } = setUp(base, { netMs: 0 }, (command) => {
      if (command instanceof QueryCommand && throttles-- > 0) throw throttled();
    });
    // Act
    await limiter[method]();
    // Assess: one pause (250 ms, the jitter at its middle)
    expect(clock.now()).toBe(T0 + 187.5);
  });

  it('shows in its snapshot no lease that ends at the present millisecond', async () => {
    // Prepare
    const { pk, limiter } = setUp(paced(600, 2), { netMs: 0 });
    await putHeldSlot(pk, 0, T0);
    await putHeldSlot(pk, 1, T0 + 1);
    // Act
    const { state } = await limiter.snapshot();
    // Assess
    expect(Object.keys(state.leases)).toEqual(['other-1']);
  });

  it('spreads unpaced calls over the slots by its random draw', async () => {
    // Prepare: four slots; a draw of a third (⌊2³⁰/3⌋ mod 4 = 1)
    const { limiter: unpaced } = setUp(
      { ...base, limits: { ...base.limits, maxConcurrency: 4 } },
      { random: () => 1 / 3 },
    );
    // Act
    const lease = await unpaced.acquire(sub);
    // Assess
    expect(own(lease).slot).toBe(1);
  });

  it('makes two requests for an unpaced call on a free key: it reads the control item and claims its slot', async () => {
    // Prepare
    const { limiter, sent } = setUp();
    // Act
    await limiter.acquire(sub);
    // Assess
    expect(sent.map((s) => s.command.constructor.name)).toEqual(['GetCommand', 'UpdateCommand']);
    expect(isClaim(sent[1]?.command ?? {})).toBe(true);
  });

  it('looks at all the slots once, and reads the control item once, when another tenant waits but a slot is free to it', async () => {
    // Prepare: two slots, a live marker of another tenant
    const { pk, limiter, sent } = setUp({ ...base, limits: { ...base.limits, maxConcurrency: 2 } });
    await putRate(pk, { waiters: { 'subagent#u': T0 + 5_000 } });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess
    expect(sent.map((s) => s.command.constructor.name)).toEqual([
      'GetCommand',
      'QueryCommand',
      'UpdateCommand',
    ]);
    expect(lease.waitedMs).toBe(0);
  });

  it.each([
    ['holds its lease: the call was at the ceiling, and its success raises it', T0 + 30_000, 2.8 + 1 / 2.8],
    ['ends its lease now: the call had a slot to spare, and the ceiling stays', T0, 2.8],
    ['ended its lease: the call had a slot to spare, and the ceiling stays', T0 - 1, 2.8],
  ])(
    'counts only the live leases for the ceiling: when the other slot’s caller %s',
    async (_name, expiresAt, ceiling) => {
      // Prepare: a ceiling lowered to 2.8 (2 usable slots) a moment ago; slot 0 held until `expiresAt`
      const policy = { ...base, limits: { ...base.limits, maxConcurrency: 4 } };
      const { pk, limiter } = setUp(policy, { netMs: 0 });
      await putRate(pk, { ceiling: 2.8, lastDecreaseAt: T0 - 1 });
      await putHeldSlot(pk, 0, expiresAt);
      // Act
      await limiter.release(await limiter.acquire(sub), { kind: 'success', tokens: 1 });
      // Assess
      expect((await item(pk, providerKeys.rate))?.ceiling).toBeCloseTo(ceiling, 9);
    },
  );

  it.each([
    ['keeps its slot while it waits for a new ticket up to a quarter of its lease (1 s) away', 1_000, 2],
    ['lets its slot go, and claims one again, when the new ticket is further away', 1_001, 3],
  ])('a caller whose ticket went void while it waited for a slot %s', async (_name, offsetMs, grants) => {
    // Prepare: one slot, held by another caller for 2 s; leases of 4 s. While the caller waits for
    // the slot its ticket goes void; when it looks again, other processes' tickets fill the clock
    // to `offsetMs` from then.
    let filled = false;
    let filledAt = 0;
    const { pk, limiter } = setUp(
      { ...paced(600), leaseMs: 4_000 },
      { netMs: 0 },
      async (command, clock, key) => {
        if (!(command instanceof GetCommand) || filled) return;
        filled = true;
        filledAt = clock.now();
        await setRate(key, { tat: filledAt + offsetMs });
      },
    );
    await putRate(pk, { tat: T0, seq: 7 });
    await putHeldSlot(pk, 0, T0 + 2_000);
    // Act
    const lease = await limiter.acquire(sub);
    // Assess
    expect(filledAt).toBeGreaterThan(T0 + 2_000);
    expect(own(lease).ticket.start).toBe(filledAt + offsetMs);
    expect((await item(pk, providerKeys.slot(0)))?.u0).toBe(grants);
  });

  it.each([
    ['a quarter of its lease: it keeps it as it is', 1_000, false],
    ['more than a quarter of its lease: it renews it first', 2_000, true],
  ])('a caller that held its slot through a cooldown of %s', async (_name, cooldownMs, renewed) => {
    // Prepare: one slot held by another caller for 500 ms, leases of 4 s; once the caller has the
    // slot, it finds a cooldown that began meanwhile
    let gets = 0;
    const { pk, limiter, sent } = setUp(
      { ...base, leaseMs: 4_000 },
      { netMs: 0 },
      async (command, clock, key) => {
        if (command instanceof GetCommand && ++gets === 2)
          await putRate(key, { cooldownUntil: clock.now() + cooldownMs });
      },
    );
    await putHeldSlot(pk, 0, T0 + 500);
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: claimed at 952.5 ms; three reads (before, after the slot wait, after the cooldown)
    const acquiredAt = T0 + 952.5 + (renewed ? cooldownMs : 0);
    expect(own(lease).acquiredAt).toBe(acquiredAt);
    expect(updatesOf(sent, 'SET #l.acquiredAt')).toHaveLength(renewed ? 1 : 0);
    expect(reads(sent)).toHaveLength(3);
    expect((await item(pk, providerKeys.slot(0)))?.l0).toMatchObject({
      id: lease.id,
      expiresAt: acquiredAt + 4_000,
    });
  });
});
