import { describe, expect, it } from 'vitest';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { T0 } from '../unit/stepping-clock';
import { base, limiterOnDynalite, own, paced, reads, sub } from './dynalite-limiter';
import { useDynaliteTable } from './dynalite-table';

const success = { kind: 'success', tokens: 1 } as const;

/**
 * Leases taken ahead (a plan's, for its Map's first calls), against dynalite: each holds its slot
 * and its ticket; the call that brings one goes without a round trip while it is still good; a
 * stale one goes back and a fresh lease is taken; what the key cannot grant in time is not taken.
 */
describe('DynamoRateLimiter reservations', () => {
  const table = useDynaliteTable();
  const { setUp, putHeldSlot, item } = limiterOnDynalite(() => table);
  const liveLeases = async (limiter: { snapshot: () => Promise<{ state: { leases: object } }> }) =>
    Object.keys((await limiter.snapshot()).state.leases).length;

  it('reserves leases that hold their slots; a call bringing one is granted it with no request', async () => {
    // Prepare: three slots, paced (tickets)
    const { limiter, sent } = setUp(paced(600, 3));
    // Act
    const leases = await limiter.reserve(sub, 3, 500);
    const before = sent.length;
    const lease = await limiter.acquire({ ...sub, reserved: leases[0] });
    const after = sent.length;
    // Assess
    expect(leases).toHaveLength(3);
    expect(new Set(leases.map((l) => own(l).slot)).size).toBe(3);
    expect(leases.every((l) => own(l).ticket !== undefined)).toBe(true);
    expect(JSON.parse(JSON.stringify(leases))).toEqual(leases);
    expect(after).toBe(before);
    expect(lease.id).toBe(leases[0]?.id);
    expect(lease.waitedMs).toBe(0);
    expect(lease.limiterMs).toBe(0);
    expect(await liveLeases(limiter)).toBe(3);
    await limiter.release(lease, success);
    expect(await liveLeases(limiter)).toBe(2);
  });

  it('does not wait for the tickets’ starts; the call that brings one goes at its start', async () => {
    // Prepare: 60 RPM, three slots: the tickets a second apart
    const { limiter, clock } = setUp(paced(60, 3));
    // Act
    const leases = await limiter.reserve(sub, 3, 5_000);
    const reservedBy = clock.t;
    const last = own(leases[2]!).ticket.start;
    const lease = await limiter.acquire({ ...sub, reserved: leases[2] });
    // Assess: reserving took its round trips only; the third call waited for its ticket
    expect(leases).toHaveLength(3);
    expect(last - own(leases[0]!).ticket.start).toBeGreaterThan(1_900);
    expect(reservedBy - T0).toBeLessThan(200);
    expect(lease.id).toBe(leases[2]?.id);
    expect(clock.t).toBe(last);
  });

  it('takes only the tickets that start within the time asked: the clock moves for those alone', async () => {
    // Prepare: 60 RPM, three slots: a ticket a second
    const { limiter } = setUp(paced(60, 3));
    // Act
    const leases = await limiter.reserve(sub, 3, 500);
    const next = await limiter.acquire(sub);
    // Assess: one reserved; the next caller's ticket is the second, a second after it, not the fourth
    expect(leases).toHaveLength(1);
    const gap = own(next).ticket.start - own(leases[0]!).ticket.start;
    expect(gap).toBeGreaterThan(900);
    expect(gap).toBeLessThan(1_100);
  });

  it('gives back a reservation held a quarter of its lease, and takes a fresh lease', async () => {
    // Prepare: two slots; the reservation is 7.5 s old (a quarter of 30 s) and 1 ms
    const { limiter, clock } = setUp({ ...base, limits: { ...base.limits, maxConcurrency: 2 } });
    const [reserved] = await limiter.reserve(sub, 1, 500);
    clock.t += base.leaseMs / 4 + 1;
    // Act
    const lease = await limiter.acquire({ ...sub, reserved });
    // Assess
    expect(lease.id).not.toBe(reserved?.id);
    const leases = (await limiter.snapshot()).state.leases;
    expect(Object.keys(leases)).toEqual([lease.id]);
  });

  it('gives back a reservation whose ticket is void (later than lateMs after its start)', async () => {
    // Prepare: paced, a window of 60 s: lateMs 900 ms
    const { limiter, clock } = setUp(paced(600, 2));
    const [reserved] = await limiter.reserve(sub, 1, 500);
    clock.t = own(reserved!).ticket.start + 901;
    // Act
    const lease = await limiter.acquire({ ...sub, reserved });
    // Assess
    expect(lease.id).not.toBe(reserved?.id);
    expect(own(lease).ticket.start).toBeGreaterThan(own(reserved!).ticket.start);
    expect(Object.keys((await limiter.snapshot()).state.leases)).toEqual([lease.id]);
  });

  it('takes only the leases the key grants within the time asked', async () => {
    // Prepare: two slots, one held by another process for a minute
    const { pk, limiter, clock } = setUp({ ...base, limits: { ...base.limits, maxConcurrency: 2 } });
    await putHeldSlot(pk, 0, T0 + 60_000);
    // Act
    const leases = await limiter.reserve(sub, 2, 200);
    // Assess: one granted, the other not waited for past the time asked
    expect(leases).toHaveLength(1);
    expect(own(leases[0]!).slot).toBe(1);
    expect(clock.t - T0).toBeLessThan(1_000);
  });

  it('frees a reserved slot nobody used, but not once another caller took the expired slot over', async () => {
    // Prepare
    const { pk, limiter, clock } = setUp({ ...base, limits: { ...base.limits, maxConcurrency: 2 } });
    const [first, second] = await limiter.reserve(sub, 2, 500);
    // Act: the first goes back at once; the second expires and another process takes its slot
    await limiter.unreserve(first!);
    clock.t += base.leaseMs + 1;
    await putHeldSlot(pk, own(second!).slot, clock.t + 60_000);
    await limiter.unreserve(second!);
    // Assess
    expect(await liveLeases(limiter)).toBe(1);
    const slotItem = await item(pk, providerKeys.slot(own(second!).slot));
    expect((slotItem?.l0 as { id: string } | undefined)?.id).toBe(`other-${own(second!).slot}`);
  });

  it('issues an orchestrator’s reserved ticket on the read that counted it: one read of the control item, not two', async () => {
    // Prepare: paced, so the reservation reads the clock to count the tickets that fit
    const { limiter, sent } = setUp(paced(600, 3));
    // Act
    const [lease] = await limiter.reserve({ ...sub, role: 'orchestrator' }, 1, 500);
    // Assess: one GetItem (the count's), then the ticket and the claim; the lease as any other
    expect(lease).toBeDefined();
    expect(reads(sent)).toHaveLength(1);
    expect(own(lease!).ticket).toBeDefined();
    expect(await liveLeases(limiter)).toBe(1);
  });
});
