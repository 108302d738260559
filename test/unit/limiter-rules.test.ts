import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afterRateLimited,
  breakerGate,
  CATCH_UP_SHARE,
  callCostMs,
  ceilingIncrease,
  decideSlot,
  freeSubagentSlots,
  insertionFor,
  LATE_SHARE,
  mayClaimDirectly,
  nextTicket,
  opensCircuit,
  pacedBy,
  pacingOf,
  preferredSlot,
  type Shift,
  shiftedStart,
  type Ticket,
} from '#shared/domain/limiter-rules';
import { PACING_SAFETY, type ProviderLimits } from '#shared/domain/provider-limits';
import { lease, maxPerWindow, policy, rate } from './limiter-fixtures';

interface Arrival {
  at: number;
  orchestrator: boolean;
  /** Where in [0, lateMs] after its start the call goes (how late the caller is served). */
  late: number;
  tokens: number;
}

/**
 * The schedule without the table: callers take tickets (orchestrators are put ahead of a long
 * queue), check them `leadMs` before they start, and call up to `lateMs` after; a ticket checked
 * too late is void and the caller takes another. Returns when each call went and its tokens.
 */
function simulate(limits: ProviderLimits, arrivals: readonly Arrival[], leadMs = 20, insertLeadMs = 300) {
  const pacing = pacingOf(limits);
  let tat = 0;
  let epoch = 0;
  let shifts: Shift[] = [];
  const calls: { at: number; weight: number; tokens: number }[] = [];
  type Check = { at: number; ticket: Ticket; arrival: Arrival };
  const checks: Check[] = [];
  /** Keeps `checks` in time order (a binary insertion: simulations hold thousands). */
  const schedule = (check: Check) => {
    let lo = 0;
    let hi = checks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (checks[mid]!.at <= check.at) lo = mid + 1;
      else hi = mid;
    }
    checks.splice(lo, 0, check);
  };
  const issue = (now: number, arrival: Arrival) => {
    const costMs = callCostMs(pacing, arrival.tokens);
    const ahead = arrival.orchestrator ? insertionFor(now, tat, pacing, costMs, insertLeadMs) : undefined;
    let start: number;
    if (ahead) {
      shifts.push(ahead.shift);
      tat += ahead.shift.by;
      start = ahead.start;
    } else {
      if (shifts.length > 0 && tat < now - pacing.lateMs) {
        shifts = [];
        epoch += 1;
      }
      ({ start, tat } = nextTicket(tat, now, pacing, costMs));
    }
    const ticket = { start, costMs, shiftEpoch: epoch, shiftCount: shifts.length };
    schedule({ at: Math.max(now, start - leadMs), ticket, arrival });
  };
  const pending = [...arrivals].sort((a, b) => a.at - b.at);
  for (;;) {
    const nextArrival = pending[0];
    const nextCheck = checks[0];
    if (!nextArrival && !nextCheck) break;
    if (nextArrival && (!nextCheck || nextArrival.at <= nextCheck.at)) {
      pending.shift();
      issue(nextArrival.at, nextArrival);
      continue;
    }
    const check = checks.shift()!;
    const start = shiftedStart(check.ticket, epoch, shifts);
    if (start === undefined || check.at > start + pacing.lateMs) issue(check.at, check.arrival);
    else if (start - leadMs > check.at) schedule({ ...check, at: start - leadMs });
    else {
      const at = Math.max(check.at, start + check.arrival.late * pacing.lateMs);
      if (at > start + pacing.lateMs) issue(check.at, check.arrival);
      else calls.push({ at, weight: 1, tokens: check.arrival.tokens });
    }
  }
  return calls;
}

const arrivalsArb = (count: number, spanMs: number, maxTokens: number) =>
  fc.array(
    fc.record({
      at: fc.integer({ min: 0, max: spanMs }),
      orchestrator: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
      late: fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
      tokens: fc.integer({ min: 1, max: maxTokens }),
    }),
    { minLength: 1, maxLength: count },
  );

describe('pacing', () => {
  it('turns the limits into clock costs at 98 % of RPM and TPM, a call costing its dearer part', () => {
    const pacing = pacingOf({ maxConcurrency: 10, rpm: 600, tpm: 60_000, windowMs: 60_000 });
    expect(pacing.intervalMs).toBeCloseTo(100 / PACING_SAFETY, 9);
    expect(pacing.perTokenMs).toBeCloseTo(1 / PACING_SAFETY, 9);
    expect(pacing.lateMs).toBe(60_000 * LATE_SHARE);
    expect(pacing.catchUpMs).toBe(60_000 * CATCH_UP_SHARE);
    expect(callCostMs(pacing, 50)).toBeCloseTo(100 / PACING_SAFETY, 9);
    expect(callCostMs(pacing, 300)).toBeCloseTo(300 / PACING_SAFETY, 9);
    expect([pacedBy(pacing, 50), pacedBy(pacing, 300)]).toEqual(['rpm', 'tpm']);
  });

  it('costs nothing and paces nothing without RPM and TPM', () => {
    const pacing = pacingOf({ maxConcurrency: 10, rpm: undefined, tpm: undefined, windowMs: 60_000 });
    expect(pacing.paced).toBe(false);
    expect(callCostMs(pacing, 5_000)).toBe(0);
  });

  it('starts a ticket at the clock, or a little in the past when the clock fell behind', () => {
    const pacing = pacingOf({ maxConcurrency: 10, rpm: 60, tpm: undefined, windowMs: 60_000 });
    expect(nextTicket(5_000, 1_000, pacing, 1_000)).toEqual({ start: 5_000, tat: 6_000 });
    expect(nextTicket(0, 100_000, pacing, 1_000)).toEqual({
      start: 100_000 - pacing.catchUpMs,
      tat: 100_000 - pacing.catchUpMs + 1_000,
    });
  });
});

describe('the schedule of tickets', () => {
  it.each([
    [3, 600],
    [20, 1_000],
    [60, 60_000],
    [150, 6_000],
  ])(
    'never puts more than %i calls in a window of %i ms, whoever comes late or goes first',
    (rpm, windowMs) => {
      // Up to 400 callers within two windows: far more than the limit lets through.
      const limits = { maxConcurrency: 10_000, rpm, tpm: undefined, windowMs };
      fc.assert(
        fc.property(arrivalsArb(400, 2 * windowMs, 10), (arrivals) => {
          const calls = simulate(limits, arrivals);
          expect(calls).toHaveLength(arrivals.length);
          expect(maxPerWindow(calls, windowMs)).toBeLessThanOrEqual(rpm);
        }),
        { numRuns: 60 },
      );
    },
  );

  it.each([
    [3, 600],
    [200, 6_000],
    [600, 60_000],
    [10_000, 60_000],
  ])(
    'holds %i calls a %i ms window in the worst case: the first calls as late as allowed, the rest on time',
    (rpm, windowMs) => {
      // Prepare: a saturated queue; the calls of the first lateMs go as late as they may.
      const limits = { maxConcurrency: 100_000, rpm, tpm: undefined, windowMs };
      const { intervalMs, lateMs } = pacingOf(limits);
      const lateOnes = Math.ceil(lateMs / intervalMs) + 1;
      const arrivals = Array.from({ length: 2 * rpm + 10 }, (_, i) => ({
        at: 0,
        orchestrator: false,
        late: i < lateOnes ? 1 : 0,
        tokens: 1,
      }));
      // Act
      const calls = simulate(limits, arrivals);
      // Assess: exactly the limit fits (the late calls fill the window's start), never more.
      expect(maxPerWindow(calls, windowMs)).toBeLessThanOrEqual(rpm);
      expect(maxPerWindow(calls, windowMs)).toBeGreaterThanOrEqual(Math.floor(rpm * PACING_SAFETY));
    },
  );

  it('never puts more than the TPM in a window while every call stays within 0.5 % of it', () => {
    // Up to 800 calls of up to 250 tokens within one window: up to four times the TPM.
    const limits = { maxConcurrency: 10_000, rpm: 10_000, tpm: 50_000, windowMs: 6_000 };
    fc.assert(
      fc.property(arrivalsArb(800, 6_000, 250), (arrivals) => {
        const calls = simulate(limits, arrivals).map((c) => ({ at: c.at, weight: c.tokens }));
        expect(maxPerWindow(calls, limits.windowMs)).toBeLessThanOrEqual(50_000);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps the limit busy when callers queue: at least 95 % of the RPM', () => {
    // Prepare: 2,000 callers in the first second against 600 RPM over a 6 s window.
    const limits = { maxConcurrency: 10_000, rpm: 600, tpm: undefined, windowMs: 6_000 };
    const arrivals = Array.from({ length: 2_000 }, (_, i) => ({
      at: i / 2,
      orchestrator: false,
      late: 0.5,
      tokens: 1,
    }));
    // Act
    const calls = simulate(limits, arrivals).sort((a, b) => a.at - b.at);
    // Assess: the rate over the calls' span.
    const span = calls.at(-1)!.at - calls[0]!.at;
    expect(((calls.length - 1) / span) * limits.windowMs).toBeGreaterThanOrEqual(600 * 0.95);
  });

  it('puts an orchestrator ahead of a long queue, within one interval and the lead', () => {
    // Prepare: 100 sub-agents queued at 60 RPM (one a second), then an orchestrator.
    const limits = { maxConcurrency: 10_000, rpm: 60, tpm: undefined, windowMs: 60_000 };
    const subs = Array.from({ length: 100 }, () => ({ at: 0, orchestrator: false, late: 0, tokens: 1 }));
    const orchestrator = { at: 10_000, orchestrator: true, late: 0, tokens: 2 };
    // Act
    const calls = simulate(limits, [...subs, orchestrator]);
    // Assess: its call goes about a second and the lead after it asked, not after the queue.
    const its = calls.find((c) => c.tokens === 2)!;
    expect(its.at - 10_000).toBeLessThan(1_000 / PACING_SAFETY + 300 + 1);
    expect(calls).toHaveLength(101);
  });

  it('moves only the tickets issued before an insertion, and voids tickets of a cleared list', () => {
    const ticket: Ticket = { start: 1_000, costMs: 100, shiftEpoch: 2, shiftCount: 1 };
    const shifts = [
      { at: 0, by: 5_000 },
      { at: 900, by: 200 },
      { at: 1_150, by: 50 },
      { at: 5_000, by: 10 },
    ];
    // Not the first (seen already); the second moves it to 1,200, so the third applies too.
    expect(shiftedStart(ticket, 2, shifts)).toBe(1_250);
    expect(shiftedStart(ticket, 3, shifts)).toBeUndefined();
  });

  it('inserts only when the queue reaches past where the orchestrator would go', () => {
    const pacing = pacingOf({ maxConcurrency: 10, rpm: 60, tpm: undefined, windowMs: 60_000 });
    const interval = pacing.intervalMs;
    expect(insertionFor(0, 1_000, pacing, interval, 300)).toBeUndefined();
    expect(insertionFor(0, 10_000, pacing, interval, 300)).toEqual({
      start: 300 + interval,
      shift: { at: 300, by: 2 * interval },
    });
  });
});

describe('decideSlot', () => {
  it('gives sub-agents the concurrency minus the orchestrators’ share, the orchestrator its reserve', () => {
    const p = policy();
    const leases = [lease(0), lease(1), lease(2)];
    expect(decideSlot(rate(p), leases, { role: 'subagent', tenantId: 't1', preferred: 0 }, p, 0)).toEqual({
      granted: false,
      reason: 'concurrency',
    });
    expect(decideSlot(rate(p), leases, { role: 'orchestrator', tenantId: 't1', preferred: 0 }, p, 0)).toEqual(
      {
        granted: true,
        slot: 3,
      },
    );
    expect(
      decideSlot(rate(p), leases.slice(1), { role: 'subagent', tenantId: 't1', preferred: 2 }, p, 0),
    ).toEqual({
      granted: true,
      slot: 0,
    });
  });

  it('lets no sub-agent take a free slot while an orchestrator waits', () => {
    const p = policy({ maxConcurrency: 1 });
    const waiting = rate(p, { waiters: { 'orchestrator#t2': 5_000 } });
    expect(decideSlot(waiting, [], { role: 'subagent', tenantId: 't1', preferred: 0 }, p, 0)).toEqual({
      granted: false,
      reason: 'orchestrator-priority',
    });
    expect(
      decideSlot(waiting, [], { role: 'orchestrator', tenantId: 't2', preferred: 0 }, p, 0).granted,
    ).toBe(true);
    // A marker past its time no longer counts.
    expect(
      decideSlot(waiting, [], { role: 'subagent', tenantId: 't1', preferred: 0 }, p, 6_000).granted,
    ).toBe(true);
  });

  it('reclaims a slot whose lease expired: a dead holder does not block the key', () => {
    const p = policy({ maxConcurrency: 1 });
    const dead = [lease(0, { expiresAt: 1_000 })];
    const req = { role: 'subagent' as const, tenantId: 't1', preferred: 0 };
    expect(decideSlot(rate(p), dead, req, p, 999).granted).toBe(false);
    expect(decideSlot(rate(p), dead, req, p, 1_000)).toEqual({ granted: true, slot: 0 });
  });

  it('keeps a tenant to its fair share while another tenant waits', () => {
    const p = policy({ maxConcurrency: 9 }, { orchestratorShare: 0.1 }); // 8 for sub-agents
    const six = Array.from({ length: 6 }, (_, i) => lease(i, { tenantId: 't1' }));
    const t2Waits = rate(p, { waiters: { 'subagent#t2': 5_000 } });
    expect(decideSlot(t2Waits, six, { role: 'subagent', tenantId: 't1', preferred: 6 }, p, 0)).toEqual({
      granted: false,
      reason: 'fair-share',
    });
    expect(decideSlot(t2Waits, six, { role: 'subagent', tenantId: 't2', preferred: 6 }, p, 0)).toEqual({
      granted: true,
      slot: 6,
    });
    // Nobody else waits: t1 may fill the slots.
    expect(decideSlot(rate(p), six, { role: 'subagent', tenantId: 't1', preferred: 6 }, p, 0).granted).toBe(
      true,
    );
  });

  it('never counts more leases than the lowered ceiling, even in slots above it', () => {
    const p = policy({ maxConcurrency: 10 }, { orchestratorShare: 0 });
    const lowered = rate(p, { ceiling: 4.9 });
    const high = [lease(7), lease(8), lease(9), lease(5)];
    expect(decideSlot(lowered, high, { role: 'subagent', tenantId: 't1', preferred: 0 }, p, 0)).toEqual({
      granted: false,
      reason: 'concurrency',
    });
    expect(freeSubagentSlots(lowered, high, p, 0)).toBe(0);
    expect(freeSubagentSlots(lowered, high.slice(1), p, 0)).toBe(1);
  });
});

describe('mayClaimDirectly and preferredSlot', () => {
  it.each([
    ['nobody waits', {}, 'subagent', true],
    ['its own tenant waits', { waiters: { 'subagent#t1': 5_000 } }, 'subagent', true],
    ['another tenant waits', { waiters: { 'subagent#t2': 5_000 } }, 'subagent', false],
    ['an orchestrator waits', { waiters: { 'orchestrator#t2': 5_000 } }, 'subagent', false],
    ['sub-agents wait, for an orchestrator', { waiters: { 'subagent#t2': 5_000 } }, 'orchestrator', true],
    ['the ceiling fell within a lease', { lastDecreaseAt: 100 }, 'orchestrator', false],
  ] as const)('when %s: %s', (_, over, role, expected) => {
    const p = policy();
    expect(mayClaimDirectly(rate(p, over), role, 't1', p, 1_000)).toBe(expected);
  });

  it('spreads sub-agents over their slots and starts orchestrators in the reserve', () => {
    const p = policy({ maxConcurrency: 10 }, { orchestratorShare: 0.2 });
    expect([0, 1, 7, 8, 9].map((k) => preferredSlot('subagent', k, 10, p))).toEqual([0, 1, 7, 0, 1]);
    expect([0, 1, 2].map((k) => preferredSlot('orchestrator', k, 10, p))).toEqual([8, 9, 8]);
  });
});

describe('breaker, cooldown and ceiling', () => {
  it('fails fast while open, lets one probe through after the open time, waits while it is out', () => {
    const p = policy();
    const open = rate(p, { breaker: 'open', openedAt: 1_000 });
    expect(breakerGate(open, p, 2_000)).toEqual({ kind: 'open', waitMs: 4_000 });
    expect(breakerGate(open, p, 6_000)).toEqual({ kind: 'try-probe' });
    const half = rate(p, { breaker: 'half-open', probe: { id: 'x', expiresAt: 9_000 } });
    expect(breakerGate(half, p, 8_000)).toEqual({ kind: 'probing' });
    // A probe that died is replaced.
    expect(breakerGate(half, p, 9_000)).toEqual({ kind: 'try-probe' });
    expect(breakerGate(rate(p), p, 0)).toEqual({ kind: 'pass' });
  });

  it('opens after repeated failures, or when the probe fails', () => {
    const p = policy();
    expect(opensCircuit('closed', 2, false, p)).toBe(false);
    expect(opensCircuit('closed', 3, false, p)).toBe(true);
    expect(opensCircuit('half-open', 1, true, p)).toBe(true);
    expect(opensCircuit('half-open', 9, false, p)).toBe(false);
  });

  it('sets one cooldown (Retry-After first) and lowers the ceiling once per generation on 429', () => {
    const p = policy({ maxConcurrency: 10 });
    const first = afterRateLimited(
      rate(p),
      { inUse: 8, acquiredAt: 5, probe: false, retryAfterMs: 2_000 },
      p,
      10,
    );
    expect(first).toMatchObject({ cooldownUntil: 2_010, tat: 2_010, lastDecreaseAt: 10, decreased: true });
    expect(first.ceiling).toBeCloseTo(8 * 0.7, 9);
    // A 429 of a lease taken before that decrease changes nothing but the cooldown.
    const after = rate(p, { ceiling: first.ceiling, lastDecreaseAt: 10, cooldownUntil: 2_010, tat: 2_500 });
    const second = afterRateLimited(
      after,
      { inUse: 5, acquiredAt: 5, probe: false, retryAfterMs: undefined },
      p,
      20,
    );
    expect(second).toMatchObject({
      cooldownUntil: 2_010,
      tat: 2_500,
      ceiling: first.ceiling,
      decreased: false,
    });
  });

  it('raises the ceiling by less than one slot for a whole round of successes', () => {
    const limits = policy({ maxConcurrency: 10 }).limits;
    let ceiling = 4;
    for (let i = 0; i < 4; i++) ceiling += ceilingIncrease(ceiling, limits);
    expect(ceiling).toBeGreaterThan(4.4);
    expect(ceiling).toBeLessThan(5);
    expect(ceilingIncrease(10, limits)).toBe(0);
  });
});
