import { ThrottlingException } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { CircuitOpenError, LimiterTimeoutError } from '#shared/domain/errors';
import type { Ticket } from '#shared/domain/limiter-rules';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import type { AcquireOptions, LimiterLease } from '#shared/ports/rate-limiter';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { type DynaliteTable, startDynaliteTable, watchedClient } from './dynalite-table';
import { VirtualClock } from './virtual-clock';

/** What a DynamoDB lease carries beyond the port's (its own fields). */
const own = (lease: LimiterLease) => lease as unknown as { ticket: Ticket; acquiredAt: number; slot: number };

/** Every request takes this long on the tests' clock, so a round trip to the table stays 5 ms. */
const NET_MS = 5;

const base: LimiterPolicy = {
  limits: { maxConcurrency: 1, rpm: undefined, tpm: undefined, windowMs: 60_000 },
  orchestratorShare: 0,
  leaseMs: 30_000,
  cooldownMs: 100,
  breakerFailures: 1,
  breakerOpenMs: 1_000,
};
const sub: AcquireOptions = { role: 'subagent', tenantId: 't', estimatedTokens: 1 };

/**
 * How the DynamoDB limiter waits and when it goes, against dynalite, on a clock where a sleep moves
 * time at once and each request takes {@link NET_MS} (or none): when it checks its ticket and claims
 * its slot, when it gives up, how long it reports queued, when it lets its slot go.
 */
describe('DynamoRateLimiter acquire', () => {
  let table: DynaliteTable;
  let keyNo = 0;

  /** A request as the limiter sent it, and the time it went. */
  interface Sent {
    at: number;
    command: object;
  }
  /**
   * A fresh key, a clock, and a limiter on it whose requests are listed in `sent` (`netMs` each);
   * `before` sees each request first (and may change the table, as another process would).
   */
  const setUp = (
    policy: LimiterPolicy = base,
    over: { maxWaitMs?: number; pollMs?: number; random?: () => number; netMs?: number } = {},
    before: (command: object, clock: SteppingClock, pk: string) => Promise<void> | void = () => {},
  ) => {
    const pk = providerPartitionKey(`http://127.0.0.1/acquire/${++keyNo}/v1`, 'key');
    const clock = new SteppingClock();
    const sent: Sent[] = [];
    const watched = watchedClient(table.doc, async (command) => {
      if (sent.length >= 200) throw new Error('runaway: more than 200 requests');
      sent.push({ at: clock.t, command });
      clock.t += over.netMs ?? NET_MS;
      await before(command, clock, pk);
    });
    const limiter = new DynamoRateLimiter({
      client: watched.client,
      tableName: table.tableName,
      pk,
      policy,
      maxWaitMs: over.maxWaitMs ?? 20_000,
      pollMs: over.pollMs ?? 10,
      clock,
      random: over.random ?? (() => 0.5),
    });
    return { pk, clock, sent, limiter };
  };
  const paced = (rpm: number, maxConcurrency = 1): LimiterPolicy => ({
    ...base,
    limits: { ...base.limits, rpm, maxConcurrency },
  });
  /** The control item, with the lists every write that creates it sets. */
  const putRate = (pk: string, fields: Record<string, unknown>) =>
    table.doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          pk,
          sk: providerKeys.rate,
          waiters: {},
          shifts: [],
          shiftEpoch: 0,
          cooldownUntil: 0,
          lastDecreaseAt: 0,
          ...fields,
        },
      }),
    );
  /** Slot `slot` held by another caller until `expiresAt`. */
  const putHeldSlot = (pk: string, slot: number, expiresAt: number, role = 'subagent') =>
    table.doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          pk,
          sk: providerKeys.slot(slot),
          l0: { id: `other-${slot}`, role, tenantId: 'other', acquiredAt: T0 - 1_000, expiresAt },
          u0: 1,
        },
      }),
    );
  const item = async (pk: string, sk: string) =>
    (
      await table.doc.send(
        new GetCommand({ TableName: table.tableName, Key: { pk, sk }, ConsistentRead: true }),
      )
    ).Item;
  const reads = (sent: readonly Sent[]) => sent.filter((s) => s.command instanceof GetCommand);
  const queries = (sent: readonly Sent[]) => sent.filter((s) => s.command instanceof QueryCommand);
  const updatesOf = (sent: readonly Sent[], expression: string) =>
    sent.filter(
      (s) => s.command instanceof UpdateCommand && s.command.input.UpdateExpression?.startsWith(expression),
    );

  beforeAll(async () => {
    table = await startDynaliteTable();
  });
  afterAll(async () => {
    await table?.dynamo.close();
  });

  it('refuses at once, asking the table nothing, a call while the circuit it last saw is open', async () => {
    // Prepare: a failure opens the circuit; the next call of this process reads it open and is refused
    const { limiter, clock, sent } = setUp();
    await limiter.release(await limiter.acquire(sub), { kind: 'failure', reason: 'boom' });
    await expect(limiter.acquire(sub)).rejects.toBeInstanceOf(CircuitOpenError);
    const before = sent.length;
    clock.t += 400;
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(attempt).rejects.toMatchObject({ message: expect.stringContaining('boom') });
    expect(sent).toHaveLength(before);
  });

  it.each([
    ['rpm 600, one slot: a round trip and 5 ms', 600, 1, 15],
    [
      'rpm 6,000, four slots: no earlier than the quarter of the slots its ticket rate fills',
      6_000,
      4,
      60_000 / 5_880,
    ],
  ])(
    'checks its ticket 10 ms and four round trips before it starts, claims its slot just before it (%s) and goes at its start',
    async (_name, rpm, maxConcurrency, claimLeadMs) => {
      // Prepare: a clock a second ahead (its tickets queued), each request 5 ms
      const { pk, limiter, clock, sent } = setUp(paced(rpm, maxConcurrency));
      await putRate(pk, { tat: T0 + 1_000, seq: 7 });
      // Act
      const lease = await limiter.acquire(sub);
      // Assess: the ticket at the clock; the check (the one read) 30 ms before; the claim before it
      // by the claim lead; the call at its start; queued all but its three requests
      expect(own(lease).ticket.start).toBe(T0 + 1_000);
      expect(reads(sent).map((s) => s.at)).toEqual([T0 + 1_000 - 30]);
      expect(own(lease).acquiredAt).toBeCloseTo(T0 + 1_000 - claimLeadMs, 6);
      expect(clock.now()).toBe(T0 + 1_000);
      expect(lease.waitedMs).toBe(1_000 - 3 * NET_MS);
      expect(lease.limiterMs).toBe(3 * NET_MS);
    },
  );

  it('reads nothing more for a ticket due the moment it comes back (its check would be now)', async () => {
    // Prepare: the ticket starts 30 ms (the check's lead) after the clock update comes back
    const { pk, limiter, sent } = setUp(paced(600));
    await putRate(pk, { tat: T0 + NET_MS + 30, seq: 7 });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: one update of the clock and the claim, no read
    expect(own(lease).ticket.start).toBe(T0 + NET_MS + 30);
    expect(reads(sent)).toHaveLength(0);
    expect(sent).toHaveLength(2);
  });

  it('checks its ticket once after sleeping, though its lead shrank meanwhile (a faster table)', async () => {
    // Prepare: requests take no time, so the round trip and the lead shrink with each one
    const { pk, limiter, sent } = setUp(paced(600), { netMs: 0 });
    await putRate(pk, { tat: T0 + 1_000, seq: 7 });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess
    expect(own(lease).ticket.start).toBe(T0 + 1_000);
    expect(reads(sent)).toHaveLength(1);
  });

  it.each([
    ['its ticket starts at its deadline: it goes', 0],
    ['its ticket starts a millisecond after its deadline: it gives up at once', 1],
  ])('%s', async (_name, pastMs) => {
    // Prepare: a clock two seconds ahead; the caller must go by the ticket's start (less `pastMs`)
    const { pk, limiter, clock } = setUp(paced(600));
    await putRate(pk, { tat: T0 + 2_000, seq: 7 });
    // Act
    const attempt = limiter.acquire({ ...sub, notAfter: T0 + 2_000 - pastMs });
    // Assess
    if (pastMs === 0) {
      expect(own(await attempt).ticket.start).toBe(T0 + 2_000);
      return;
    }
    await expect(attempt).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(attempt).rejects.toMatchObject({
      reason: 'rpm',
      message: "the provider's limiter granted no call within 20000 ms (last reason: rpm)",
    });
    expect(clock.now()).toBe(T0 + NET_MS);
  });

  it.each([
    ["to exactly lateMs after its start still goes with it, at the cooldown's end", 900, T0, 8],
    [
      'a millisecond further is void: the caller waits the cooldown out and takes a new ticket',
      901,
      T0 + 631,
      9,
    ],
  ])('a ticket that a cooldown delays %s', async (_name, cooldownMs, ticketStart, seq) => {
    // Prepare: the clock idle at now (the ticket starts now), a cooldown of `cooldownMs` (lateMs is 900 ms)
    const { pk, limiter, clock } = setUp(paced(600));
    await putRate(pk, { tat: T0, seq: 7, cooldownUntil: T0 + cooldownMs });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: the new ticket starts where an idle clock restarts (now + lead − catch-up), not after
    // the tickets of the wait, and only one more was taken
    expect(own(lease).ticket.start).toBe(ticketStart);
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + cooldownMs);
    expect((await item(pk, providerKeys.rate))?.seq).toBe(seq);
  });

  it('waits out a long cooldown before it takes a new ticket, instead of taking tickets that are void at once', async () => {
    // Prepare: a cooldown of 5 s on an idle clock
    const { pk, limiter, clock } = setUp(paced(600));
    await putRate(pk, { tat: T0, seq: 7, cooldownUntil: T0 + 5_000 });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: two tickets in all (the void one and its replacement), the call after the cooldown
    expect((await item(pk, providerKeys.rate))?.seq).toBe(9);
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + 5_000);
    expect(clock.now() - own(lease).ticket.start).toBeLessThanOrEqual(900);
  });

  it.each([
    ['ends at its deadline: it waits for it and goes, reporting the pause as queued', 700],
    ['ends a millisecond past its deadline: it gives up at once', 701],
  ])('an unpaced call facing a cooldown that %s', async (_name, cooldownMs) => {
    // Prepare
    const { pk, limiter, clock } = setUp(base, { maxWaitMs: 700, netMs: 0 });
    await putRate(pk, { cooldownUntil: T0 + cooldownMs });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    if (cooldownMs === 700) {
      const lease = await attempt;
      expect(lease.waitedMs).toBe(700);
      expect(lease.limiterMs).toBe(0);
      return;
    }
    await expect(attempt).rejects.toMatchObject({ reason: 'cooldown' });
    expect(clock.now()).toBe(T0);
  });

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
      pk: providerPartitionKey(`http://127.0.0.1/acquire/${++keyNo}/v1`, 'key'),
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

  /** Sets fields of the control item (as another process's writes would). */
  const setRate = (pk: string, fields: Record<string, unknown>) =>
    table.doc.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: { pk, sk: providerKeys.rate },
        UpdateExpression: `SET ${Object.keys(fields)
          .map((k) => `#${k} = :${k}`)
          .join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(Object.keys(fields).map((k) => [`#${k}`, k])),
        ExpressionAttributeValues: Object.fromEntries(Object.entries(fields).map(([k, v]) => [`:${k}`, v])),
      }),
    );
  const throttled = () => new ThrottlingException({ message: 'slow down', $metadata: {} });
  const isClaim = (command: object) =>
    command instanceof UpdateCommand && command.input.UpdateExpression?.startsWith('SET #l0 = :l0') === true;

  it('gives up naming the rate when its ticket, void once the insertion list was cleared, has only a replacement past its deadline', async () => {
    // Prepare: a ticket a second ahead; while the caller sleeps toward it, another process restarts
    // the clock in a new epoch (voiding it) ten seconds ahead
    let restarted = false;
    const { pk, limiter, clock, sent } = setUp(
      paced(600),
      { maxWaitMs: 3_000 },
      async (command, _clock, key) => {
        if (!(command instanceof GetCommand) || restarted) return;
        restarted = true;
        await setRate(key, { shiftEpoch: 1, tat: T0 + 10_000 });
      },
    );
    await putRate(pk, { tat: T0 + 1_000, seq: 7 });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess: no cooldown was involved, and it gave back no slot (it held none)
    await expect(attempt).rejects.toMatchObject({ reason: 'rpm' });
    expect(clock.now()).toBeLessThan(T0 + 1_000);
    expect(updatesOf(sent, 'REMOVE')).toHaveLength(0);
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

  it('fails at once on an open circuit that its ticket shows, without sleeping until the ticket', async () => {
    // Prepare: a circuit opened now; the clock 5 s ahead
    const { pk, limiter, clock } = setUp(paced(600), { netMs: 0 });
    await putRate(pk, {
      tat: T0 + 5_000,
      seq: 7,
      breaker: 'open',
      openedAt: T0,
      openedBy: 'boom',
      failures: 1,
    });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(attempt).rejects.toMatchObject({ reopensInMs: 1_000 });
    expect(clock.now()).toBe(T0);
  });

  it('takes a plain ticket when the table refuses to put an orchestrator ahead of the queue', async () => {
    // Prepare: a queue of 10 s; just before the insertion, other orchestrators fill the insertion list
    const fifty = Array.from({ length: 50 }, (_, i) => ({ at: T0 + i, by: 1 }));
    const { pk, limiter } = setUp(paced(600), { netMs: 0 }, async (command, _clock, key) => {
      if (command instanceof UpdateCommand && command.input.UpdateExpression?.includes('list_append'))
        await setRate(key, { shifts: fifty });
    });
    await putRate(pk, { tat: T0 + 10_000, seq: 7 });
    // Act
    const lease = await limiter.acquire({ ...sub, role: 'orchestrator' });
    // Assess
    expect(own(lease).ticket).toMatchObject({ start: T0 + 10_000, shiftCount: 50 });
  });

  it.each([
    [
      '(throttled twice) took it exactly lateMs after its ticket’s start: it goes with that ticket',
      2,
      T0 + 30 - 266.25,
    ],
    ['(throttled three times) took it further past it: it takes a new ticket', 3, undefined],
  ])('a caller whose claim of its slot %s', async (_name, throttles, start) => {
    // Prepare: a window of 53.25 s (lateMs 798.75 ms, an idle clock restarts 266.25 ms back);
    // pauses of 187.5, 375 and 750 ms for the throttled claims
    let left = throttles;
    const policy = { ...paced(600), limits: { ...paced(600).limits, windowMs: 53_250 } };
    const { limiter, clock } = setUp(policy, { netMs: 0 }, (command) => {
      if (isClaim(command) && left-- > 0) throw throttled();
    });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: it goes within lateMs of its ticket's start
    expect(clock.now() - own(lease).ticket.start).toBeLessThanOrEqual(798.75);
    if (start !== undefined) expect(own(lease).ticket.start).toBe(start);
    else expect(own(lease).ticket.start).toBeGreaterThan(T0);
  });

  it('gives up at once, naming the cooldown, when a cooldown outlasts its maximum wait', async () => {
    // Prepare: an idle clock, a cooldown of 5 s
    const { pk, limiter, clock } = setUp(paced(600), { maxWaitMs: 3_000, netMs: 0 });
    await putRate(pk, { tat: T0, seq: 7, cooldownUntil: T0 + 5_000 });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toMatchObject({ reason: 'cooldown' });
    expect(clock.now()).toBe(T0);
  });

  it('remembers a circuit it saw open while it looked at the slots: its next call is refused without a request', async () => {
    // Prepare: two slots, another tenant waiting (so the caller looks at all the slots); the circuit
    // opens (another process's failure) just before that look
    const { pk, limiter, sent } = setUp(
      { ...base, limits: { ...base.limits, maxConcurrency: 2 } },
      { netMs: 0 },
      async (command, clock, key) => {
        if (command instanceof QueryCommand)
          await setRate(key, { breaker: 'open', openedAt: clock.now(), openedBy: 'boom', failures: 1 });
      },
    );
    await putRate(pk, { waiters: { 'subagent#u': T0 + 5_000 } });
    await limiter.acquire(sub);
    const before = sent.length;
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
    expect(sent).toHaveLength(before);
  });

  it('puts no orchestrator ahead of the queue once the insertion list is full: it takes a plain ticket in one write', async () => {
    // Prepare: a queue of 10 s, the list holding its 50 insertions
    const { pk, limiter, sent } = setUp(paced(600), { netMs: 0 });
    const fifty = Array.from({ length: 50 }, (_, i) => ({ at: T0 - 1_000 + i, by: 1 }));
    await putRate(pk, { tat: T0 + 10_000, seq: 7, shifts: fifty });
    // Act
    const lease = await limiter.acquire({ ...sub, role: 'orchestrator' });
    // Assess
    expect(updatesOf(sent, 'SET tat = tat + :by')).toHaveLength(0);
    expect(own(lease).ticket).toMatchObject({ start: T0 + 10_000, shiftCount: 50 });
  });

  it('guesses the branch of the clock an orchestrator read: a clock right at its floor is busy, one write', async () => {
    // Prepare: the clock at the floor of a ticket taken now (now + 30 ms lead − 300 ms catch-up)
    const { pk, limiter, sent } = setUp(paced(600), { netMs: 0 });
    await putRate(pk, { tat: T0 - 270, seq: 7 });
    // Act
    const lease = await limiter.acquire({ ...sub, role: 'orchestrator' });
    // Assess
    expect(own(lease).ticket.start).toBe(T0 - 270);
    expect(updatesOf(sent, 'SET tat')).toHaveLength(1);
  });

  it('wakes a caller of this process waiting for a slot when another lets its slot go for a far ticket', async () => {
    // Prepare: one slot, held by another process until 2 s; virtual time, requests take none. Two
    // callers of one process: x (150 tokens, a ticket of 1.53 s now) and y (1 token, right after it).
    const clock = new VirtualClock();
    const low = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
    clock.track(low);
    const doc = DynamoDBDocumentClient.from(low, { marshallOptions: { removeUndefinedValues: true } });
    const pk = providerPartitionKey(`http://127.0.0.1/acquire/${++keyNo}/v1`, 'key');
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

  it('gives no unused tokens back when another call queued behind it before it went, even once the clock is back at its end', async () => {
    // Prepare: TPM paced (10 ms of clock a token), the clock a second ahead; while the caller sleeps
    // toward its ticket another process takes the next one (100 ms)
    let queued = false;
    const policy = { ...base, limits: { ...base.limits, tpm: 1_000, windowMs: 9_800 } };
    const { pk, limiter } = setUp(policy, {}, async (command, _clock, key) => {
      if (queued || !(command instanceof GetCommand)) return;
      queued = true;
      await setRate(key, { tat: T0 + 1_200 });
    });
    await putRate(pk, { tat: T0 + 1_000, seq: 7 });
    const lease = await limiter.acquire({ ...sub, estimatedTokens: 10 });
    expect(own(lease).ticket).toMatchObject({ start: T0 + 1_000, costMs: 100 });
    // the call behind used none of its tokens and gave its whole ticket back
    await setRate(pk, { tat: T0 + 1_100 });
    // Act: the caller used half its tokens
    await limiter.release(lease, { kind: 'success', tokens: 5 });
    // Assess
    expect((await item(pk, providerKeys.rate))?.tat).toBe(T0 + 1_100);
  });

  it('counts as queued none of the wait for a ticket taken with a caller that asked later (its later floor)', async () => {
    // Prepare: a window of 1 s (an idle clock restarts 5 ms back, lateMs 15 ms); requests take none
    const policy = { ...paced(600, 2), limits: { ...paced(600, 2).limits, windowMs: 1_000 } };
    const { limiter, clock } = setUp(policy, { netMs: 0 });
    // Act: two callers whose tickets go in one update, the second asking 100 ms after the first
    const first = limiter.acquire(sub);
    clock.t += 100;
    const second = limiter.acquire(sub);
    const [lease] = await Promise.all([first, second]);
    // Assess: the first ticket starts at the second caller's floor (now + 30 ms lead − 5 ms)
    expect(own(lease as LimiterLease).ticket.start).toBe(T0 + 125);
    expect(lease?.waitedMs).toBe(0);
  });
});
