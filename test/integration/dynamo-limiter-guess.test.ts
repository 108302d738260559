import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { DynamoRateLimiter } from '#shared/adapters/dynamo/rate-limiter';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import { base, limiterOnDynalite, own, paced, sub } from './dynalite-limiter';
import { useDynaliteTable } from './dynalite-table';
import { VirtualClock } from './virtual-clock';

/** Each way to the table takes 5 ms of virtual time: a round trip is 10 ms. */
const WAY_MS = 5;

/**
 * The slot a call claims beside its schedule once its process has seen the control fields: one
 * round trip before the call instead of two, and a guess the fresh read does not bear out is let
 * go (the decision stays the table's). In virtual time against dynalite, so round trips that
 * overlap take the time of one.
 */
describe('DynamoRateLimiter guessed slots', () => {
  const table = useDynaliteTable();
  const { freshPk, setRate, putHeldSlot } = limiterOnDynalite(() => table);

  const limiterOn = (policy: LimiterPolicy) => {
    const clock = new VirtualClock(() => WAY_MS);
    const low = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
    clock.track(low);
    const pk = freshPk();
    const limiter = new DynamoRateLimiter({
      client: DynamoDBDocumentClient.from(low, { marshallOptions: { removeUndefinedValues: true } }),
      tableName: table.tableName,
      pk,
      policy,
      maxWaitMs: 20_000,
      pollMs: 10,
      clock,
      random: () => 0.5,
    });
    /** Acquires, and says how long it took on the virtual clock. */
    const timed = (work: () => ReturnType<DynamoRateLimiter['acquire']>) =>
      clock.run(
        (async () => {
          const from = clock.now();
          const lease = await work();
          return { lease, tookMs: clock.now() - from };
        })(),
      );
    return { clock, pk, limiter, timed };
  };

  it.each([
    ['an unpaced key (its look at the control fields)', base, 2],
    ['a key paced far below its RPM (its ticket)', paced(1_000_000), 3],
  ])(
    'claims the slot beside the schedule once its process has seen the table: %s',
    async (_, policy, trips) => {
      // Prepare: a first call, with nothing seen yet, claims after its schedule
      const { clock, limiter, timed } = limiterOn(policy);
      const first = await timed(() => limiter.acquire(sub));
      expect(first.tookMs).toBe(trips * 2 * WAY_MS);
      await clock.run(limiter.release(first.lease, { kind: 'success', tokens: 1 }));
      // Act
      const second = await timed(() => limiter.acquire(sub));
      // Assess: one round trip, and the slot is its own
      expect(second.tookMs).toBe(2 * WAY_MS);
      expect(second.lease.limiterMs).toBe(2 * WAY_MS);
      expect((await clock.run(limiter.snapshot())).state.leases).toEqual({
        [second.lease.id]: expect.objectContaining({ slot: own(second.lease).slot, id: second.lease.id }),
      });
    },
  );

  it('claims after its schedule again when its process last looked at the table more than 5 s ago', async () => {
    // Prepare: a call, then 6 s in which this process does not look (a warm Lambda between invocations)
    const { clock, limiter, timed } = limiterOn(base);
    const first = await timed(() => limiter.acquire(sub));
    await clock.run(limiter.release(first.lease, { kind: 'success', tokens: 1 }));
    await clock.run(clock.sleep(6_000));
    // Act
    const later = await timed(() => limiter.acquire(sub));
    // Assess: two round trips, as with nothing seen
    expect(later.tookMs).toBe(4 * WAY_MS);
  });

  it('honours a cooldown another process set after this one last looked: the call goes once it is over', async () => {
    // Prepare: the process has seen the table; then another process's 429 sets a cooldown of 500 ms
    const { clock, pk, limiter, timed } = limiterOn(base);
    const first = await timed(() => limiter.acquire(sub));
    await clock.run(limiter.release(first.lease, { kind: 'success', tokens: 1 }));
    const cooldownUntil = clock.now() + 500;
    await setRate(pk, { cooldownUntil });
    // Act
    const { lease } = await timed(() => limiter.acquire(sub));
    // Assess: granted after the cooldown, with one lease, its own
    expect(clock.now()).toBeGreaterThanOrEqual(cooldownUntil);
    expect(lease.waitedMs).toBeGreaterThanOrEqual(500 - 2 * WAY_MS);
    expect(Object.keys((await clock.run(limiter.snapshot())).state.leases)).toEqual([lease.id]);
  });

  it('lets a guessed slot go when the fresh read shows an orchestrator waiting, and gives way to it', async () => {
    // Prepare: two slots, one reserved for orchestrators; the process has seen the table. Then an
    // orchestrator of another process marks itself waiting
    const policy: LimiterPolicy = {
      ...base,
      limits: { ...base.limits, maxConcurrency: 2 },
      orchestratorShare: 0.5,
    };
    const { clock, pk, limiter, timed } = limiterOn(policy);
    const first = await timed(() => limiter.acquire(sub));
    await clock.run(limiter.release(first.lease, { kind: 'success', tokens: 1 }));
    const markerUntil = clock.now() + 300;
    await setRate(pk, { waiters: { 'orchestrator#other': markerUntil } });
    // Act
    const asked = clock.now();
    const { lease } = await timed(() => limiter.acquire(sub));
    // Assess: its guess did not stand: it waited until the orchestrator's marker was gone
    expect(own(lease).acquiredAt).toBeGreaterThanOrEqual(markerUntil);
    expect(lease.waitedMs).toBeGreaterThanOrEqual(markerUntil - asked - 2 * WAY_MS);
    expect(Object.keys((await clock.run(limiter.snapshot())).state.leases)).toEqual([lease.id]);
  });

  it('takes another slot when the guessed one is held by a caller of another process', async () => {
    // Prepare: three slots; the process has seen the table and its guesses take the slots in turn:
    // the next guess after `other`'s is the slot after its, which another process holds
    const policy: LimiterPolicy = { ...base, limits: { ...base.limits, maxConcurrency: 3 } };
    const { clock, pk, limiter, timed } = limiterOn(policy);
    const first = await timed(() => limiter.acquire(sub));
    await clock.run(limiter.release(first.lease, { kind: 'success', tokens: 1 }));
    const other = await timed(() => limiter.acquire(sub));
    const guessed = (own(other.lease).slot + 1) % 3;
    await putHeldSlot(pk, guessed, clock.now() + 60_000);
    // Act
    const next = await timed(() => limiter.acquire(sub));
    // Assess: the guess failed and it claimed the free slot instead, waiting for nobody
    expect([own(other.lease).slot, guessed]).not.toContain(own(next.lease).slot);
    expect(next.lease.waitedMs).toBe(0);
    const leases = (await clock.run(limiter.snapshot())).state.leases;
    expect(
      Object.values(leases)
        .map((l) => l.slot)
        .sort(),
    ).toEqual([0, 1, 2]);
  });
});
