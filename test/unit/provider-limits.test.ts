import { describe, expect, it } from 'vitest';
import {
  type AcquireRequest,
  applyRelease,
  backoffMs,
  decideAcquire,
  initialLimiterState,
  type LimiterPolicy,
  type LimiterState,
  PACING_SAFETY,
} from '#shared/domain/provider-limits';

const policy = (
  over: Partial<LimiterPolicy['limits']> = {},
  rest: Partial<LimiterPolicy> = {},
): LimiterPolicy => ({
  limits: { maxConcurrency: 4, rpm: undefined, tpm: undefined, windowMs: 60_000, ...over },
  orchestratorShare: 0.25,
  leaseMs: 10_000,
  cooldownMs: 1_000,
  breakerFailures: 3,
  breakerOpenMs: 5_000,
  ...rest,
});

let n = 0;
const req = (over: Partial<AcquireRequest> = {}): AcquireRequest => ({
  leaseId: `l${++n}`,
  role: 'subagent',
  tenantId: 't1',
  estimatedTokens: 100,
  ...over,
});

/** Acquires until denied; returns the state and the granted leases. */
function fill(state: LimiterState, p: LimiterPolicy, now: number, over: Partial<AcquireRequest> = {}) {
  const leases = [];
  for (;;) {
    const d = decideAcquire(state, req(over), p, now);
    state = d.state;
    if (!d.granted) return { state, leases, reason: d.reason };
    leases.push(d.lease);
  }
}

describe('decideAcquire', () => {
  it('grants sub-agents the concurrency minus the orchestrators’ reserved share, then the orchestrator its slot', () => {
    const p = policy();
    const subs = fill(initialLimiterState(p.limits), p, 0);
    expect(subs.leases).toHaveLength(3); // 4 slots, 1 reserved
    expect(subs.reason).toBe('concurrency');
    const orch = decideAcquire(subs.state, req({ role: 'orchestrator' }), p, 0);
    expect(orch.granted).toBe(true);
  });

  it('lets no sub-agent in while an orchestrator waits (priority), even with one slot and no reserve', () => {
    const p = policy({ maxConcurrency: 1 });
    const first = decideAcquire(initialLimiterState(p.limits), req(), p, 0);
    expect(first.granted).toBe(true);
    const orch = decideAcquire(first.state, req({ role: 'orchestrator' }), p, 1);
    expect(orch).toMatchObject({ granted: false, reason: 'concurrency' });
    if (first.granted) {
      const freed = applyRelease(orch.state, first.lease, { kind: 'success', tokens: 10 }, p, 2);
      expect(decideAcquire(freed, req(), p, 3)).toMatchObject({
        granted: false,
        reason: 'orchestrator-priority',
      });
      expect(decideAcquire(freed, req({ role: 'orchestrator' }), p, 3).granted).toBe(true);
    }
  });

  it('reclaims an expired lease: a dead holder does not block the key', () => {
    const p = policy({ maxConcurrency: 1 });
    const first = decideAcquire(initialLimiterState(p.limits), req(), p, 0);
    expect(decideAcquire(first.state, req(), p, p.leaseMs - 1)).toMatchObject({ granted: false });
    const later = decideAcquire(first.state, req(), p, p.leaseMs + 1);
    expect(later.granted).toBe(true);
    expect(Object.keys(later.state.leases)).toHaveLength(1);
  });

  it('paces requests at the RPM (GCRA): one per window/RPM, with the wait it needs', () => {
    const p = policy({ rpm: 60, maxConcurrency: 100 }); // one a second
    let state = initialLimiterState(p.limits);
    const a = decideAcquire(state, req(), p, 1_000);
    expect(a.granted).toBe(true);
    state = a.state;
    const b = decideAcquire(state, req(), p, 1_500);
    expect(b).toMatchObject({ granted: false, reason: 'rpm' });
    const interval = 1_000 / PACING_SAFETY;
    if (!b.granted) expect(b.waitMs).toBeCloseTo(1_000 + interval - 1_500, 6);
    expect(decideAcquire(b.state, req(), p, 1_000 + interval).granted).toBe(true);
  });

  it('never grants more than RPM requests in any window', () => {
    const p = policy({ rpm: 30, maxConcurrency: 1000, windowMs: 6_000 });
    let state = initialLimiterState(p.limits);
    const grants: number[] = [];
    for (let t = 0; t < 30_000; t += 7) {
      const d = decideAcquire(state, req(), p, t);
      state = d.state;
      if (d.granted) {
        grants.push(t);
        state = applyRelease(state, d.lease, { kind: 'success', tokens: 100 }, p, t);
      }
    }
    for (let i = 0; i < grants.length; i++) {
      const inWindow = grants.filter((g) => g >= grants[i]! && g < grants[i]! + p.limits.windowMs).length;
      expect(inWindow).toBeLessThanOrEqual(30);
    }
    // Paced, not bursty, and close to the limit (the 7 ms polling grid loses a little each time).
    const interval = p.limits.windowMs / (30 * PACING_SAFETY);
    expect(grants.length).toBeGreaterThanOrEqual(Math.floor(30_000 / (interval + 7)));
  });

  it.each([
    [600, 60_000],
    [200, 6_000],
    [3, 600],
  ])('keeps every window at or below %i RPM and close to it when callers come late', (rpm, windowMs) => {
    // Prepare: callers poll every 37 ms (a round trip): most grants come late.
    const p = policy({ rpm, maxConcurrency: 10_000, windowMs });
    let state = initialLimiterState(p.limits);
    const grants: number[] = [];
    // Act
    for (let t = 0; t < windowMs * 5; t += 37) {
      for (;;) {
        const d = decideAcquire(state, req(), p, t);
        state = d.state;
        if (!d.granted) break;
        grants.push(t);
        state = applyRelease(state, d.lease, { kind: 'success', tokens: 100 }, p, t);
      }
    }
    // Assess
    for (const start of grants) {
      expect(grants.filter((g) => g >= start && g < start + windowMs).length).toBeLessThanOrEqual(rpm);
    }
    expect(grants.length / 5).toBeGreaterThanOrEqual(rpm * (rpm >= 100 ? 0.95 : 0.8));
  });

  it('paces tokens at the TPM and corrects the estimate with the actual tokens on release', () => {
    const p = policy({ tpm: 6_000, maxConcurrency: 10, windowMs: 60_000 }); // 100 tokens a second
    const a = decideAcquire(initialLimiterState(p.limits), req({ estimatedTokens: 1_000 }), p, 0);
    expect(a.granted).toBe(true);
    if (!a.granted) return;
    const wait = decideAcquire(a.state, req(), p, 1);
    expect(wait).toMatchObject({ granted: false, reason: 'tpm' });
    // Only 100 tokens were used: the clock moves back by 900 tokens' worth.
    const released = applyRelease(a.state, a.lease, { kind: 'success', tokens: 100 }, p, 1);
    expect(released.tpmTat).toBeCloseTo((100 * 60_000) / (6_000 * PACING_SAFETY), 6);
  });

  it('keeps a tenant to its fair share while another tenant waits', () => {
    const p = policy({ maxConcurrency: 9 }, { orchestratorShare: 0.1 }); // 8 for sub-agents
    const t1 = fill(initialLimiterState(p.limits), p, 0, { tenantId: 't1' });
    expect(t1.leases).toHaveLength(8);
    // t2 waits; t1 releases two leases: t2 gets them, t1 (at 6, share 4) does not.
    let state = decideAcquire(t1.state, req({ tenantId: 't2' }), p, 1).state;
    state = applyRelease(state, t1.leases[0]!, { kind: 'success', tokens: 1 }, p, 2);
    state = applyRelease(state, t1.leases[1]!, { kind: 'success', tokens: 1 }, p, 2);
    expect(decideAcquire(state, req({ tenantId: 't1' }), p, 3)).toMatchObject({
      granted: false,
      reason: 'fair-share',
    });
    expect(decideAcquire(state, req({ tenantId: 't2' }), p, 3).granted).toBe(true);
  });
});

describe('applyRelease', () => {
  it('lowers the ceiling once per generation on 429 and sets the shared cooldown (Retry-After first)', () => {
    const p = policy({ maxConcurrency: 10 }, { orchestratorShare: 0 });
    const full = fill(initialLimiterState(p.limits), p, 0);
    expect(full.leases).toHaveLength(10);
    let state = applyRelease(
      full.state,
      full.leases[0]!,
      { kind: 'rate-limited', retryAfterMs: 2_000 },
      p,
      10,
    );
    expect(state.ceiling).toBeCloseTo(10 * 0.7, 6);
    expect(state.cooldownUntil).toBe(2_010);
    // Another 429 of the same generation does not lower it again.
    state = applyRelease(state, full.leases[1]!, { kind: 'rate-limited' }, p, 11);
    expect(state.ceiling).toBeCloseTo(10 * 0.7, 6);
    expect(decideAcquire(state, req(), p, 500)).toMatchObject({
      granted: false,
      reason: 'cooldown',
      waitMs: 1_510,
    });
  });

  it('raises the ceiling slowly (1/ceiling a success) while it is what limits', () => {
    const p = policy({ maxConcurrency: 10 }, { orchestratorShare: 0 });
    let state: LimiterState = { ...initialLimiterState(p.limits), ceiling: 4 };
    const full = fill(state, p, 0);
    expect(full.leases).toHaveLength(4);
    state = full.state;
    for (const lease of full.leases) state = applyRelease(state, lease, { kind: 'success', tokens: 1 }, p, 1);
    // Grows, but by less than one slot for a whole round of successes.
    expect(state.ceiling).toBeGreaterThan(4.4);
    expect(state.ceiling).toBeLessThan(5);
  });

  it('opens the circuit after repeated failures, lets one probe through after the open time, closes on success', () => {
    const p = policy({ maxConcurrency: 10 }, { orchestratorShare: 0 });
    const full = fill(initialLimiterState(p.limits), p, 0);
    let state = full.state;
    for (const lease of full.leases.slice(0, 3))
      state = applyRelease(state, lease, { kind: 'failure' }, p, 100);
    expect(state.breaker).toBe('open');
    expect(decideAcquire(state, req(), p, 200)).toMatchObject({ granted: false, reason: 'circuit-open' });
    const probe = decideAcquire(state, req(), p, 100 + p.breakerOpenMs);
    expect(probe).toMatchObject({ granted: true, lease: { probe: true } });
    if (!probe.granted) return;
    expect(decideAcquire(probe.state, req(), p, 100 + p.breakerOpenMs)).toMatchObject({ reason: 'probing' });
    const failed = applyRelease(probe.state, probe.lease, { kind: 'failure' }, p, 6_000);
    expect(failed).toMatchObject({ breaker: 'open', openedAt: 6_000 });
    const closed = applyRelease(probe.state, probe.lease, { kind: 'success', tokens: 1 }, p, 6_000);
    expect(closed).toMatchObject({ breaker: 'closed', consecutiveFailures: 0 });
  });
});

describe('backoffMs', () => {
  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [10, 1_000],
  ])('retry %i waits uniformly up to min(cap, base·2^(n−1)) = %i', (retry, ceiling) => {
    const opts = { baseMs: 100, capMs: 1_000 };
    expect(backoffMs(retry, opts, () => 0)).toBe(0);
    expect(backoffMs(retry, opts, () => 0.999999)).toBe(ceiling - 1);
    expect(backoffMs(retry, opts, () => 0.5)).toBe(ceiling / 2);
  });

  it('never waits less than Retry-After', () => {
    expect(backoffMs(1, { baseMs: 100, capMs: 1_000, retryAfterMs: 3_000 }, () => 0.5)).toBe(3_000);
  });
});
