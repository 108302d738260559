import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { type LimiterClock, LimiterItems } from '#shared/adapters/dynamo/limiter-items';
import { HELD_RELEASE_MARGIN_MS } from '#shared/adapters/dynamo/limiter-table';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { LimiterTimeoutError } from '#shared/domain/errors';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { type DynaliteTable, startDynaliteTable, watchedClient } from './dynalite-table';

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
  let table: DynaliteTable;
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
  const limiterOf = (client: DynamoDBDocumentClient, pk: string, clock: LimiterClock) =>
    new DynamoRateLimiter({
      client,
      tableName: table.tableName,
      pk,
      policy,
      maxWaitMs: 5_000,
      pollMs: 10,
      clock,
      random: () => 0.5,
    });
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

  beforeAll(async () => {
    table = await startDynaliteTable();
  });
  afterAll(async () => {
    await table?.dynamo.close();
  });

  it('frees the slots of calls ending together in one batched write, keeping each slot’s count of grants', async () => {
    // Prepare: 8 leases of one process, every slot taken
    const pk = freshKey();
    const clock = new ManualClock();
    const watched = watchedClient(table.doc);
    const limiter = limiterOf(watched.client, pk, clock);
    const leases = await Promise.all(Array.from({ length: 8 }, () => limiter.acquire(ask)));
    expect((await limiter.snapshot()).state.leases).toSatisfy((l: object) => Object.keys(l).length === 8);
    const sentBefore = watched.sent.length;
    // Act: all 8 end at once, a second into their leases
    clock.t += 1_000;
    await Promise.all(leases.map((lease) => limiter.release(lease, success)));
    // Assess: no slot is held, each still counts its one grant, and the frees went in batches
    // (the first alone, the other 7 together while it was on its way), not an update each
    const snapshot = await limiter.snapshot();
    expect(Object.keys(snapshot.state.leases)).toHaveLength(0);
    expect(snapshot.state.totals.granted).toBe(8);
    const releases = watched.sent.slice(sentBefore);
    const slotUpdates = releases.filter(
      (c) => c instanceof UpdateCommand && String(c.input.Key?.sk).startsWith(providerKeys.slotPrefix),
    );
    expect(slotUpdates).toHaveLength(0);
    expect(releases.filter((c) => c instanceof BatchWriteCommand).length).toBeGreaterThanOrEqual(1);
    for (let slot = 0; slot < 8; slot++) {
      const item = await slotItem(pk, slot);
      expect(item).toMatchObject({ uses: 1 });
      expect(item).not.toHaveProperty('leaseId');
      expect(item?.ttl).toBeGreaterThan(T0 / 1000);
    }
    // And the slots serve again: 8 more calls get one each, the count of grants going on from there.
    const again = await Promise.all(Array.from({ length: 8 }, () => limiter.acquire(ask)));
    expect(again).toHaveLength(8);
    expect((await limiter.snapshot()).state.totals.granted).toBe(16);
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
    expect(await slotItem(pk, 0)).toMatchObject({ leaseId: current.id, uses: 2 });
  });

  it('sends again what a batch left unprocessed, and gives up once the deadline is near', async () => {
    // Prepare: a table that leaves the last item of each batch unprocessed, once or always
    const stepping = new SteppingClock();
    const tableWith = (leaveAlways: boolean) => {
      const batches: number[] = [];
      let left = false;
      const client = {
        send: (command: BatchWriteCommand) => {
          const items = command.input.RequestItems?.T ?? [];
          batches.push(items.length);
          const leave = leaveAlways || !left;
          left = true;
          return Promise.resolve({ UnprocessedItems: leave ? { T: items.slice(-1) } : {} });
        },
      } as unknown as DynamoDBDocumentClient;
      return { batches, io: new LimiterItems(client, 'T', 'PK', policy.limits, stepping, () => 0.5) };
    };
    const items = [
      { sk: 'SLOT#00000', uses: 1 },
      { sk: 'SLOT#00001', uses: 3 },
    ];
    // Act + Assess: the item left over goes again, alone
    const once = tableWith(false);
    await once.io.putAll(items, T0 + 60_000);
    expect(once.batches).toEqual([2, 1]);
    // A table that never takes it: the writes stop before the deadline with the limiter's timeout
    const always = tableWith(true);
    const now = stepping.t;
    await expect(always.io.putAll(items, now + 2_000)).rejects.toBeInstanceOf(LimiterTimeoutError);
    expect(stepping.t).toBeLessThanOrEqual(now + 2_000);
    expect(always.batches.length).toBeGreaterThan(1);
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
    expect((frees[0] as UpdateCommand).input.ConditionExpression).toBe('leaseId = :id');
    expect(await slotItem(pk, 0)).not.toHaveProperty('leaseId');
  });
});
