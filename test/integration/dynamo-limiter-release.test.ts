import { ThrottlingException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { type LimiterClock, LimiterItems } from '#shared/adapters/dynamo/limiter-items';
import { HELD_RELEASE_BUDGET_MS, LimiterSlots } from '#shared/adapters/dynamo/limiter-slots';
import { HELD_RELEASE_MARGIN_MS } from '#shared/adapters/dynamo/limiter-table';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { LimiterTimeoutError } from '#shared/domain/errors';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { useDynaliteTable, watchedClient } from './dynalite-table';

/** A clock that moves only when told to (sleeps end at once). */
class ManualClock implements LimiterClock {
  t = T0;
  now = (): number => this.t;
  sleep = (): Promise<void> => Promise.resolve();
}

/**
 * How the DynamoDB limiter gives a slot back: well inside its lease, the releases of one process go
 * together unconditioned (nobody else can hold the slot); near or past its end, only a slot that is
 * still the caller's is freed.
 */
describe('DynamoRateLimiter releases', () => {
  const table = useDynaliteTable();
  let keyNo = 0;
  const policy: LimiterPolicy = {
    limits: { maxConcurrency: 8, rpm: undefined, tpm: undefined, windowMs: 60_000 },
    orchestratorShare: 0,
    leaseMs: 60_000,
    cooldownMs: 100,
    breakerFailures: 3,
    breakerOpenMs: 1_000,
  };
  const ask = { role: 'subagent', tenantId: 't', estimatedTokens: 1 } as const;
  const success = { kind: 'success', tokens: 1 } as const;
  const freshKey = () => providerPartitionKey(`http://127.0.0.1/release/${++keyNo}/v1`, 'key');
  const limiterOf = (
    client: DynamoDBDocumentClient,
    pk: string,
    clock: LimiterClock,
    slotsPerItem = 1,
    random = () => 0.5,
  ) =>
    new DynamoRateLimiter({
      client,
      tableName: table.tableName,
      pk,
      policy,
      maxWaitMs: 5_000,
      pollMs: 10,
      clock,
      random,
      slotsPerItem,
    });
  const slotWrites = (sent: readonly unknown[]) =>
    sent.filter(
      (c): c is UpdateCommand =>
        c instanceof UpdateCommand && String(c.input.Key?.sk).startsWith(providerKeys.slotPrefix),
    );
  const slotItem = async (pk: string, slot: number) =>
    (
      await table.doc.send(
        new GetCommand({
          TableName: table.tableName,
          Key: { pk, sk: providerKeys.slot(slot) },
          ConsistentRead: true,
        }),
      )
    ).Item;

  it.each([
    { slotsPerItem: 1, writes: 8 },
    { slotsPerItem: 8, writes: 1 },
  ])(
    'claims and frees the slots of calls starting and ending together, $slotsPerItem slot(s) to an item, in $writes writes each',
    async ({ slotsPerItem, writes }) => {
      // Prepare: 8 calls of one process at once, every slot taken (an unpaced caller's preferred
      // slot comes from its random draw: here 0, 1, …, 7)
      const pk = freshKey();
      const clock = new ManualClock();
      const watched = watchedClient(table.doc);
      let draw = 0;
      const limiter = limiterOf(watched.client, pk, clock, slotsPerItem, () => (draw++ % 8) / 2 ** 30);
      const leases = await Promise.all(Array.from({ length: 8 }, () => limiter.acquire(ask)));
      expect((await limiter.snapshot()).state.leases).toSatisfy((l: object) => Object.keys(l).length === 8);
      // (one item: the 8 claims of one turn in one update)
      expect(slotWrites(watched.sent)).toHaveLength(writes);
      const sentBefore = watched.sent.length;
      // Act: all 8 end at once, a second into their leases
      clock.t += 1_000;
      await Promise.all(leases.map((lease) => limiter.release(lease, success)));
      // Assess: no slot is held, each still counts its one grant, and the frees went unconditioned
      const snapshot = await limiter.snapshot();
      expect(Object.keys(snapshot.state.leases)).toHaveLength(0);
      expect(snapshot.state.totals.granted).toBe(8);
      const frees = slotWrites(watched.sent.slice(sentBefore));
      expect(frees).toHaveLength(writes);
      expect(frees.every((c) => c.input.ConditionExpression === undefined)).toBe(true);
      for (let slot = 0; slot < 8; slot++) {
        const item = await slotItem(pk, slot - (slot % slotsPerItem));
        expect(item?.[`u${slot % slotsPerItem}`]).toBe(1);
        expect(item).not.toHaveProperty(`l${slot % slotsPerItem}`);
        expect(item?.ttl).toBeGreaterThan(T0 / 1000);
      }
      // And the slots serve again: 8 more calls get one each, the count of grants going on from there.
      const again = await Promise.all(Array.from({ length: 8 }, () => limiter.acquire(ask)));
      expect(again).toHaveLength(8);
      expect((await limiter.snapshot()).state.totals.granted).toBe(16);
    },
  );

  it('claims the free slots of an item asked together even when another process holds one of them', async () => {
    // Prepare: another process holds slot 2 of a 4-slot item
    const pk = freshKey();
    const io = (client: DynamoDBDocumentClient) =>
      new LimiterItems(client, table.tableName, pk, policy.limits, new ManualClock(), () => 0.5, 4);
    const lease = (id: string) => ({
      id,
      role: 'subagent' as const,
      tenantId: 't',
      acquiredAt: T0,
      expiresAt: T0 + 60_000,
    });
    expect(await new LimiterSlots(io(table.doc)).claim(2, lease('other'), T0 + 5_000)).toBe(1);
    const watched = watchedClient(table.doc);
    const slots = new LimiterSlots(io(watched.client));
    // Act: four callers of this process ask for slots 0–3 at once
    const got = await Promise.all([0, 1, 2, 3].map((n) => slots.claim(n, lease(`mine-${n}`), T0 + 5_000)));
    // Assess: the free three are claimed, slot 2 stays the other's; each slot's condition is its own
    expect(got).toEqual([1, 1, undefined, 1]);
    const item = await slotItem(pk, 0);
    expect(item).toMatchObject({
      l0: { id: 'mine-0' },
      l1: { id: 'mine-1' },
      l2: { id: 'other' },
      l3: { id: 'mine-3' },
    });
    const read = await io(table.doc).readAll(T0 + 5_000);
    expect(read.leases.map((l) => [l.slot, l.id]).sort()).toEqual([
      [0, 'mine-0'],
      [1, 'mine-1'],
      [2, 'other'],
      [3, 'mine-3'],
    ]);
    expect(read.granted).toBe(4);
  });

  it('takes no timer for a call whose ticket is due (a timer is a turn of the event loop a call)', async () => {
    // Prepare: a paced key, idle; a clock that counts its sleeps
    const clock = new ManualClock();
    let sleeps = 0;
    clock.sleep = () => {
      sleeps += 1;
      return Promise.resolve();
    };
    const paced = new DynamoRateLimiter({
      client: table.doc,
      tableName: table.tableName,
      pk: freshKey(),
      policy: { ...policy, limits: { ...policy.limits, rpm: 6_000 } },
      maxWaitMs: 5_000,
      pollMs: 10,
      clock,
      random: () => 0.5,
    });
    // Act
    const lease = await paced.acquire(ask);
    // Assess: a ticket, a slot, and no sleep
    expect(lease.waitedMs).toBe(0);
    expect(sleeps).toBe(0);
  });

  it('frees a lease near its end only if the slot is still its own', async () => {
    // Prepare: one slot; the first caller's lease runs out and a second caller takes the slot over
    const pk = freshKey();
    const clock = new ManualClock();
    const one = { ...policy, limits: { ...policy.limits, maxConcurrency: 1 } };
    const make = () =>
      new DynamoRateLimiter({
        client: table.doc,
        tableName: table.tableName,
        pk,
        policy: one,
        maxWaitMs: 5_000,
        pollMs: 10,
        clock,
        random: () => 0.5,
      });
    const first = make();
    const second = make();
    const late = await first.acquire(ask);
    clock.t += policy.leaseMs + 1;
    const current = await second.acquire(ask);
    // Act: the first caller's call ends at last
    await first.release(late, success);
    // Assess: the slot is still held, by the second caller
    expect(await slotItem(pk, 0)).toMatchObject({ l0: { id: current.id }, u0: 2 });
  });

  it('gives up freeing a held slot that the table keeps throttling within its budget, with the limiter’s timeout', async () => {
    // Prepare: a table that throttles every write
    const stepping = new SteppingClock();
    let writes = 0;
    const client = {
      send: () => {
        writes += 1;
        return Promise.reject(new ThrottlingException({ message: 'slow down', $metadata: {} }));
      },
    } as unknown as DynamoDBDocumentClient;
    const slots = new LimiterSlots(new LimiterItems(client, 'T', 'PK', policy.limits, stepping, () => 0.5));
    const from = stepping.t;
    // Act + Assess
    await expect(slots.freeHeld(3)).rejects.toBeInstanceOf(LimiterTimeoutError);
    expect(stepping.t).toBeLessThanOrEqual(from + HELD_RELEASE_BUDGET_MS);
    expect(writes).toBeGreaterThan(1);
  });

  it('keeps the conditioned free for a lease within the margin of its end (a clock of another host may be ahead)', async () => {
    // Prepare: a lease whose end is closer than the margin
    const pk = freshKey();
    const clock = new ManualClock();
    const watched = watchedClient(table.doc);
    const limiter = limiterOf(watched.client, pk, clock);
    const lease = await limiter.acquire(ask);
    clock.t += policy.leaseMs - HELD_RELEASE_MARGIN_MS;
    const sentBefore = watched.sent.length;
    // Act
    await limiter.release(lease, success);
    // Assess: one conditioned update of its slot freed it
    const frees = watched.sent
      .slice(sentBefore)
      .filter((c) => c instanceof UpdateCommand && c.input.Key?.sk === providerKeys.slot(0));
    expect(frees).toHaveLength(1);
    expect((frees[0] as UpdateCommand).input.ConditionExpression).toBe('#l.id = :id');
    expect(await slotItem(pk, 0)).not.toHaveProperty('l0');
  });
});
