/**
 * Edges of the limiter's pure rules that the other limiter tests leave open (see
 * docs/mutation-equivalents.md): slot search direction and empty ranges, the ceiling's fall,
 * fair shares, the free sub-agent slots, the probe after a 429.
 */
import { describe, expect, it } from 'vitest';
import {
  afterRateLimited,
  decideSlot,
  freeSubagentSlots,
  mayClaimDirectly,
  opensCircuit,
  preferredSlot,
  type SlotLease,
  shiftedStart,
} from '#shared/domain/limiter-rules';
import { reservedForOrchestrator } from '#shared/domain/provider-limits';
import { lease, policy, rate } from './limiter-fixtures';

/** `count` sub-agent leases of `tenantId` in the slots from `first` on. */
const held = (tenantId: string, first: number, count: number): SlotLease[] =>
  Array.from({ length: count }, (_, i) => lease(first + i, { tenantId }));
const sub = (tenantId: string, preferred: number) => ({ role: 'subagent' as const, tenantId, preferred });
const orchestrator = (preferred: number) => ({ role: 'orchestrator' as const, tenantId: 't1', preferred });

describe('shiftedStart', () => {
  it('moves a ticket that starts exactly where an orchestrator was inserted', () => {
    const ticket = { start: 1_000, costMs: 10, shiftEpoch: 1, shiftCount: 0 };
    expect(shiftedStart(ticket, 1, [{ at: 1_000, by: 50 }])).toBe(1_050);
    expect(shiftedStart(ticket, 1, [{ at: 1_001, by: 50 }])).toBe(1_000);
  });
});

describe('preferredSlot without a reserve', () => {
  it('spreads orchestrators over all usable slots when none is reserved for them', () => {
    const p = policy({ maxConcurrency: 4 }, { orchestratorShare: 0 });
    expect([0, 1, 5].map((k) => preferredSlot('orchestrator', k, 4, p))).toEqual([0, 1, 1]);
    // One usable slot: nothing is reserved either.
    expect(preferredSlot('orchestrator', 3, 1, policy())).toBe(0);
  });
});

describe('mayClaimDirectly after a decrease', () => {
  const p = policy();
  const claim = (lastDecreaseAt: number, now: number) =>
    mayClaimDirectly(rate(p, { lastDecreaseAt }), 'subagent', 't1', p, now);

  it('looks at the other slots for one lease lifetime after the ceiling fell, then claims directly', () => {
    expect(claim(9_000, 9_500)).toBe(false);
    expect(claim(100, 100 + p.leaseMs - 1)).toBe(false);
    expect(claim(100, 100 + p.leaseMs)).toBe(true);
    expect(claim(100, 100 + 3 * p.leaseMs)).toBe(true);
  });
});

describe('decideSlot: where a free slot is looked for', () => {
  it('takes the nearest free slot below the preferred one, not above it', () => {
    const p = policy({ maxConcurrency: 9 }, { orchestratorShare: 0.1 }); // 8 slots for sub-agents
    expect(decideSlot(rate(p), [lease(4)], sub('t1', 4), p, 0)).toEqual({ granted: true, slot: 3 });
  });

  it('gives an orchestrator its preferred slot in a reserve that does not start at 0', () => {
    const p = policy({ maxConcurrency: 10 }, { orchestratorShare: 0.3 }); // slots 7-9 reserved
    const preferred = preferredSlot('orchestrator', 0, 10, p);
    expect(preferred).toBe(7);
    expect(decideSlot(rate(p), [], orchestrator(preferred), p, 0)).toEqual({ granted: true, slot: 7 });
    expect(decideSlot(rate(p), [], orchestrator(8), p, 0)).toEqual({ granted: true, slot: 8 });
  });

  it('gives an orchestrator a real slot when nothing is reserved (an empty reserve is skipped)', () => {
    const p = policy({ maxConcurrency: 1 });
    expect(decideSlot(rate(p), [], orchestrator(0), p, 0)).toEqual({ granted: true, slot: 0 });
    const noShare = policy({ maxConcurrency: 4 }, { orchestratorShare: 0 });
    expect(decideSlot(rate(noShare), [lease(0)], orchestrator(0), noShare, 0)).toEqual({
      granted: true,
      slot: 3,
    });
  });
});

describe('decideSlot: limits', () => {
  it('refuses an orchestrator when the lowered ceiling is reached by leases in slots above it', () => {
    const p = policy({ maxConcurrency: 10 }, { orchestratorShare: 0 });
    const lowered = rate(p, { ceiling: 4.9 });
    const high = [lease(5), lease(7), lease(8), lease(9)];
    expect(decideSlot(lowered, high, orchestrator(0), p, 0)).toEqual({
      granted: false,
      reason: 'concurrency',
    });
  });

  it('counts only sub-agent leases against the sub-agents’ capacity', () => {
    const p = policy(); // 4 usable, 3 for sub-agents
    const leases = [lease(3, { role: 'orchestrator' }), lease(0), lease(1)];
    expect(decideSlot(rate(p), leases, sub('t1', 2), p, 0)).toEqual({ granted: true, slot: 2 });
  });

  it('refuses a sub-agent when its capacity is held by leases taken before the ceiling fell', () => {
    const p = policy({ maxConcurrency: 10 }); // at a ceiling of 4: 1 reserved, 3 for sub-agents
    const before = [lease(5), lease(6), lease(7)];
    expect(decideSlot(rate(p, { ceiling: 4 }), before, sub('t1', 0), p, 0)).toEqual({
      granted: false,
      reason: 'concurrency',
    });
  });

  it('refuses a sub-agent when an orchestrator holds the only free sub-agent slot', () => {
    const p = policy(); // 4 usable, 3 for sub-agents
    const leases = [lease(0, { role: 'orchestrator' }), lease(1), lease(2)];
    expect(decideSlot(rate(p), leases, sub('t1', 0), p, 0)).toEqual({
      granted: false,
      reason: 'concurrency',
    });
  });
});

describe('decideSlot: fair share (8 sub-agent slots)', () => {
  const p = policy({ maxConcurrency: 9 }, { orchestratorShare: 0.1 });
  const waiting = (...tenants: string[]) =>
    rate(p, { waiters: Object.fromEntries(tenants.map((t) => [`subagent#${t}`, 5_000])) });

  it('applies no fair share when only the caller’s own tenant waits', () => {
    const leases = [...held('t1', 0, 4), ...held('t2', 4, 3)];
    expect(decideSlot(waiting('t1'), leases, sub('t1', 7), p, 0)).toEqual({ granted: true, slot: 7 });
  });

  it('applies no fair share when nobody waits, whoever holds the slots', () => {
    const leases = [...held('t1', 0, 4), ...held('t2', 4, 3)];
    expect(decideSlot(rate(p), leases, sub('t1', 7), p, 0)).toEqual({ granted: true, slot: 7 });
  });

  it('lets a tenant below its share (half of 8 for two tenants) take a slot while another waits', () => {
    expect(decideSlot(waiting('t2'), held('t1', 0, 3), sub('t1', 3), p, 0)).toEqual({
      granted: true,
      slot: 3,
    });
  });

  it('counts only the caller’s own leases against its share', () => {
    const leases = [...held('t1', 0, 1), ...held('t2', 1, 3)];
    expect(decideSlot(waiting('t2'), leases, sub('t1', 4), p, 0)).toEqual({ granted: true, slot: 4 });
  });

  it('refuses a tenant holding exactly its share while another waits', () => {
    expect(decideSlot(waiting('t2'), held('t1', 0, 4), sub('t1', 4), p, 0)).toEqual({
      granted: false,
      reason: 'fair-share',
    });
  });
});

describe('freeSubagentSlots (4 usable, 3 for sub-agents)', () => {
  const p = policy();

  it('does not count a lease that expires now', () => {
    expect(freeSubagentSlots(rate(p), [lease(0, { expiresAt: 1_000 })], p, 1_000)).toBe(3);
    expect(freeSubagentSlots(rate(p), [lease(0, { expiresAt: 1_000 })], p, 999)).toBe(2);
  });

  it('counts sub-agent leases against the sub-agents’ slots and every lease against the usable ones', () => {
    expect(freeSubagentSlots(rate(p), [lease(3, { role: 'orchestrator' })], p, 0)).toBe(3);
    expect(freeSubagentSlots(rate(p), [lease(0), lease(1)], p, 0)).toBe(1);
    const orchestrators = [lease(2, { role: 'orchestrator' }), lease(3, { role: 'orchestrator' }), lease(0)];
    expect(freeSubagentSlots(rate(p), orchestrators, p, 0)).toBe(1);
  });
});

describe('after a 429', () => {
  const p = policy({ maxConcurrency: 10 });
  const call = (over: Partial<Parameters<typeof afterRateLimited>[1]> = {}) => ({
    inUse: 8,
    acquiredAt: 500,
    probe: false,
    retryAfterMs: undefined,
    ...over,
  });

  it('lowers the ceiling for a lease taken at the very time of the last decrease', () => {
    const change = afterRateLimited(rate(p, { lastDecreaseAt: 500 }), call({ acquiredAt: 500 }), p, 600);
    expect(change.decreased).toBe(true);
    expect(change.lastDecreaseAt).toBe(600);
  });

  it('closes the probe only when the probe itself was answered while half-open', () => {
    const halfOpen = rate(p, { breaker: 'half-open' });
    expect(afterRateLimited(halfOpen, call({ probe: true }), p, 600).closeProbe).toBe(true);
    expect(afterRateLimited(halfOpen, call({ probe: false }), p, 600).closeProbe).toBe(false);
    expect(afterRateLimited(rate(p), call({ probe: true }), p, 600).closeProbe).toBe(false);
  });
});

describe('opensCircuit and the reserve', () => {
  it('does not open a closed circuit on one failure, whatever the probe flag says', () => {
    expect(opensCircuit('closed', 1, true, policy())).toBe(false);
  });

  it('reserves one of two usable slots for orchestrators, none of one', () => {
    expect(reservedForOrchestrator(2, 0.25)).toBe(1);
    expect(reservedForOrchestrator(1, 0.25)).toBe(0);
  });
});
