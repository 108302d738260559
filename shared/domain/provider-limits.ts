/**
 * The provider's limits and the pure rules of the shared rate limiter: concurrency leases that
 * expire, RPM and TPM paced with GCRA, one cooldown after a 429, an adaptive concurrency ceiling
 * (AIMD), a reserved share for orchestrator calls, a fair share per tenant and a circuit breaker.
 *
 * Everything here is a function of (state, request, now): the DynamoDB adapter reads the one
 * limiter item, applies a function and writes it back under a version condition, so concurrent
 * Lambdas (or concurrent local handlers against dynalite) see one consistent state.
 */

/** The providers the client speaks to; all are OpenAI-compatible. */
export type ProviderName = 'moonshot' | 'ollama' | 'openai-compatible';
export const PROVIDER_NAMES: readonly ProviderName[] = ['moonshot', 'ollama', 'openai-compatible'];

/** Who calls: the orchestrator (plan, aggregate/synthesizer) has priority over sub-agents. */
export type CallerRole = 'orchestrator' | 'subagent';

/** The limits of one provider key; `rpm`/`tpm` undefined = not paced (429s still adapt the ceiling). */
export interface ProviderLimits {
  maxConcurrency: number;
  rpm: number | undefined;
  tpm: number | undefined;
  /** The length of the provider's "minute" (60000; shorter only in tests and benches). */
  windowMs: number;
}

/**
 * Moonshot's tiers by cumulative recharge (platform.moonshot.ai/docs/pricing/limits):
 * concurrency, RPM, TPM.
 */
export const MOONSHOT_TIERS: Record<string, Omit<ProviderLimits, 'windowMs'>> = {
  'moonshot-tier0': { maxConcurrency: 1, rpm: 3, tpm: 500_000 },
  'moonshot-tier1': { maxConcurrency: 50, rpm: 200, tpm: 2_000_000 },
  'moonshot-tier2': { maxConcurrency: 100, rpm: 500, tpm: 3_000_000 },
  'moonshot-tier3': { maxConcurrency: 200, rpm: 5_000, tpm: 3_000_000 },
  'moonshot-tier4': { maxConcurrency: 400, rpm: 5_000, tpm: 4_000_000 },
  'moonshot-tier5': { maxConcurrency: 1_000, rpm: 10_000, tpm: 5_000_000 },
};

/**
 * Limits when neither a tier nor explicit limits are configured. Moonshot and unknown endpoints
 * start wide and unpaced and adapt to the 429s they get; Ollama serves one request at a time.
 */
export const PROVIDER_DEFAULT_LIMITS: Record<ProviderName, Omit<ProviderLimits, 'windowMs'>> = {
  moonshot: { maxConcurrency: 100, rpm: undefined, tpm: undefined },
  ollama: { maxConcurrency: 1, rpm: undefined, tpm: undefined },
  'openai-compatible': { maxConcurrency: 32, rpm: undefined, tpm: undefined },
};

/** The default base URL of each provider (`openai-compatible` has none: it must be given). */
export const PROVIDER_BASE_URLS: Record<ProviderName, string | undefined> = {
  moonshot: 'https://api.moonshot.ai/v1',
  ollama: 'http://localhost:11434/v1',
  'openai-compatible': undefined,
};

/** How the limiter behaves beyond the provider's limits. */
export interface LimiterPolicy {
  limits: ProviderLimits;
  /** Share of the concurrency reserved for orchestrator calls (0..0.5). */
  orchestratorShare: number;
  /** A lease expires this long after it was taken (a dead holder never blocks the key). */
  leaseMs: number;
  /** Cooldown after a 429 without Retry-After. */
  cooldownMs: number;
  /** Consecutive failures (5xx, timeouts, malformed bodies) that open the circuit. */
  breakerFailures: number;
  /** How long the circuit stays open before one probe call is let through. */
  breakerOpenMs: number;
}

/** Pacing targets this fraction of RPM/TPM, so clock skew and network jitter never cross the limit. */
export const PACING_SAFETY = 0.98;
/** A waiter's marker lives this long without being refreshed. */
export const WAITER_MARKER_MS = 2_000;
/** The adaptive ceiling falls to this fraction of the concurrency in use when the provider answers 429. */
export const AIMD_DECREASE = 0.7;

/**
 * GCRA burst tolerance, in pacing intervals, that still keeps every window at or below RPM: at
 * most ⌊RPM·safety + k⌋ + 1 grants fit in any window, so k = ⌊RPM·(1 − safety)⌋ − 1 (0 for small RPM).
 * It lets the pacing make up for callers served a little late (a DynamoDB round trip).
 */
export function rpmTolerance(rpm: number): number {
  return Math.max(0, Math.floor(rpm * (1 - PACING_SAFETY)) - 1);
}

export interface Lease {
  id: string;
  role: CallerRole;
  tenantId: string;
  acquiredAt: number;
  expiresAt: number;
  estimatedTokens: number;
  /** The one call let through while the circuit is half-open. */
  probe?: boolean;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** The one limiter item of a provider key. */
export interface LimiterState {
  leases: Record<string, Lease>;
  /** GCRA theoretical arrival times (epoch ms) of requests and tokens. */
  rpmTat: number;
  tpmTat: number;
  cooldownUntil: number;
  /** Adaptive concurrency ceiling (fractional; the usable slots are its floor). */
  ceiling: number;
  lastDecreaseAt: number;
  consecutiveFailures: number;
  breaker: BreakerState;
  openedAt: number;
  /** `<role>#<tenantId>` → expiry of a waiter's marker. */
  waiters: Record<string, number>;
  /** Totals since the item was created (for reports). */
  totals: { granted: number; rateLimited: number; failures: number; decreases: number };
}

export function initialLimiterState(limits: ProviderLimits): LimiterState {
  return {
    leases: {},
    rpmTat: 0,
    tpmTat: 0,
    cooldownUntil: 0,
    ceiling: limits.maxConcurrency,
    lastDecreaseAt: 0,
    consecutiveFailures: 0,
    breaker: 'closed',
    openedAt: 0,
    waiters: {},
    totals: { granted: 0, rateLimited: 0, failures: 0, decreases: 0 },
  };
}

export interface AcquireRequest {
  leaseId: string;
  role: CallerRole;
  tenantId: string;
  estimatedTokens: number;
}

export type DenyReason =
  | 'circuit-open'
  | 'probing'
  | 'cooldown'
  | 'orchestrator-priority'
  | 'concurrency'
  | 'fair-share'
  | 'rpm'
  | 'tpm';

export type AcquireDecision =
  | { granted: true; state: LimiterState; lease: Lease }
  /** `waitMs` undefined: poll again (a slot frees when a lease is released or expires). */
  | { granted: false; state: LimiterState; reason: DenyReason; waitMs: number | undefined; changed: boolean };

const waiterKey = (role: CallerRole, tenantId: string) => `${role}#${tenantId}`;

/** The usable concurrency: the adaptive ceiling, within [1, maxConcurrency]. */
export function usableConcurrency(state: LimiterState, limits: ProviderLimits): number {
  return Math.max(1, Math.min(limits.maxConcurrency, Math.floor(state.ceiling)));
}

/** Slots sub-agents may not take: a share of the usable concurrency (at least one), none when there is one slot. */
export function reservedForOrchestrator(usable: number, share: number): number {
  return usable >= 2 && share > 0 ? Math.max(1, Math.floor(usable * share)) : 0;
}

/** Drops expired leases and waiter markers; returns a new state and whether anything went. */
export function pruneExpired(state: LimiterState, now: number): { state: LimiterState; changed: boolean } {
  const leases = Object.fromEntries(Object.entries(state.leases).filter(([, l]) => l.expiresAt > now));
  const waiters = Object.fromEntries(Object.entries(state.waiters).filter(([, exp]) => exp > now));
  const changed =
    Object.keys(leases).length !== Object.keys(state.leases).length ||
    Object.keys(waiters).length !== Object.keys(state.waiters).length;
  return { state: changed ? { ...state, leases, waiters } : state, changed };
}

/**
 * Decides one acquisition at `now`: grant (a lease is added, the pacing clocks move on) or deny
 * (with the reason and how long to wait; the caller's waiter marker is set so orchestrators and
 * other tenants get their priority and fair share).
 */
export function decideAcquire(
  current: LimiterState,
  req: AcquireRequest,
  policy: LimiterPolicy,
  now: number,
): AcquireDecision {
  const { limits } = policy;
  let { state, changed } = pruneExpired(current, now);
  const myWaiter = waiterKey(req.role, req.tenantId);
  const deny = (reason: DenyReason, waitMs: number | undefined): AcquireDecision => {
    const exp = state.waiters[myWaiter];
    // Refresh the marker only when it is missing or half gone: fewer writes while polling.
    if (exp === undefined || exp - now < WAITER_MARKER_MS / 2) {
      state = { ...state, waiters: { ...state.waiters, [myWaiter]: now + WAITER_MARKER_MS } };
      changed = true;
    }
    return { granted: false, state, reason, waitMs, changed };
  };

  // 1. circuit breaker: open → wait; half-open → one probe at a time
  let probe = false;
  if (state.breaker === 'open') {
    const reopensAt = state.openedAt + policy.breakerOpenMs;
    if (now < reopensAt) return deny('circuit-open', reopensAt - now);
    state = { ...state, breaker: 'half-open' };
    changed = true;
  }
  const leases = Object.values(state.leases);
  if (state.breaker === 'half-open') {
    if (leases.some((l) => l.probe)) return deny('probing', undefined);
    probe = true;
  }
  // 2. the shared cooldown after a 429
  if (now < state.cooldownUntil) return deny('cooldown', state.cooldownUntil - now);
  // 3. concurrency: orchestrator priority, reserved share, fair share across tenants
  const usable = usableConcurrency(state, limits);
  if (req.role === 'subagent') {
    const orchestratorWaiting = Object.keys(state.waiters).some((k) => k.startsWith('orchestrator#'));
    if (orchestratorWaiting) return deny('orchestrator-priority', undefined);
    const subCapacity = usable - reservedForOrchestrator(usable, policy.orchestratorShare);
    const subLeases = leases.filter((l) => l.role === 'subagent');
    if (subLeases.length >= subCapacity) return deny('concurrency', undefined);
    const waitingTenants = Object.keys(state.waiters)
      .filter((k) => k.startsWith('subagent#'))
      .map((k) => k.slice('subagent#'.length))
      .filter((t) => t !== req.tenantId);
    if (waitingTenants.length > 0) {
      const tenants = new Set([...subLeases.map((l) => l.tenantId), ...waitingTenants, req.tenantId]);
      const fairShare = Math.max(1, Math.ceil(subCapacity / tenants.size));
      const held = subLeases.filter((l) => l.tenantId === req.tenantId).length;
      if (held >= fairShare) return deny('fair-share', undefined);
    }
  } else if (leases.length >= usable) {
    return deny('concurrency', undefined);
  }
  // 4. requests per window, paced (GCRA; a caller served late keeps the time it lost, within the
  //    tolerance the safety margin allows)
  let rpmTat = state.rpmTat;
  if (limits.rpm !== undefined) {
    if (state.rpmTat > now) return deny('rpm', state.rpmTat - now);
    const interval = limits.windowMs / (limits.rpm * PACING_SAFETY);
    rpmTat = Math.max(state.rpmTat, now - rpmTolerance(limits.rpm) * interval) + interval;
  }
  // 5. tokens per window, paced by the request's estimate (corrected on release)
  let tpmTat = state.tpmTat;
  if (limits.tpm !== undefined) {
    const tat = Math.max(state.tpmTat, now);
    if (tat > now) return deny('tpm', tat - now);
    tpmTat = tat + (req.estimatedTokens * limits.windowMs) / (limits.tpm * PACING_SAFETY);
  }
  const lease: Lease = {
    id: req.leaseId,
    role: req.role,
    tenantId: req.tenantId,
    acquiredAt: now,
    expiresAt: now + policy.leaseMs,
    estimatedTokens: req.estimatedTokens,
    ...(probe ? { probe: true } : {}),
  };
  const { [myWaiter]: _mine, ...waiters } = state.waiters;
  return {
    granted: true,
    lease,
    state: {
      ...state,
      leases: { ...state.leases, [lease.id]: lease },
      waiters,
      rpmTat,
      tpmTat,
      totals: { ...state.totals, granted: state.totals.granted + 1 },
    },
  };
}

/** How a call under a lease ended. */
export type CallOutcome =
  | { kind: 'success'; tokens: number }
  /** 429: the provider's limit was hit anyway. */
  | { kind: 'rate-limited'; retryAfterMs?: number }
  /** 5xx, timeout, lost connection, malformed body: counts toward the circuit breaker. */
  | { kind: 'failure' }
  /** 400/401/403/404: the provider works, the request is refused. */
  | { kind: 'rejected' };

/**
 * Applies the outcome of a call and frees its lease: success raises the ceiling by 1/ceiling
 * (additive increase) and closes a half-open circuit; a 429 lowers the ceiling once per
 * generation of leases (multiplicative decrease) and sets the shared cooldown; failures count
 * toward opening the circuit.
 */
export function applyRelease(
  current: LimiterState,
  lease: Lease,
  outcome: CallOutcome,
  policy: LimiterPolicy,
  now: number,
): LimiterState {
  const { limits } = policy;
  const { [lease.id]: _gone, ...leases } = current.leases;
  const inUse = Object.keys(current.leases).length;
  let state: LimiterState = { ...current, leases };
  const perToken = limits.tpm === undefined ? 0 : limits.windowMs / (limits.tpm * PACING_SAFETY);
  switch (outcome.kind) {
    case 'success': {
      // Increase only while the ceiling is what limits us (otherwise it would grow without evidence).
      const atCeiling = inUse >= Math.floor(state.ceiling) - 1;
      const ceiling = atCeiling
        ? Math.min(limits.maxConcurrency, state.ceiling + 1 / Math.max(1, state.ceiling))
        : state.ceiling;
      state = {
        ...state,
        ceiling,
        consecutiveFailures: 0,
        tpmTat: state.tpmTat + (outcome.tokens - lease.estimatedTokens) * perToken,
        ...(state.breaker === 'half-open' && lease.probe ? { breaker: 'closed' as const } : {}),
      };
      break;
    }
    case 'rate-limited': {
      // One decrease per generation: leases taken before the last decrease saw the old ceiling.
      const decrease = lease.acquiredAt >= state.lastDecreaseAt;
      const wait = outcome.retryAfterMs ?? policy.cooldownMs;
      state = {
        ...state,
        ...(decrease
          ? {
              ceiling: Math.max(1, Math.min(state.ceiling, inUse) * AIMD_DECREASE),
              lastDecreaseAt: now,
              totals: { ...state.totals, decreases: state.totals.decreases + 1 },
            }
          : {}),
        cooldownUntil: Math.max(state.cooldownUntil, now + wait),
        // The provider answered: it is alive.
        ...(state.breaker === 'half-open' && lease.probe ? { breaker: 'closed' as const } : {}),
        tpmTat: state.tpmTat - lease.estimatedTokens * perToken,
      };
      state = {
        ...state,
        totals: { ...state.totals, rateLimited: state.totals.rateLimited + 1 },
      };
      break;
    }
    case 'failure': {
      const failures = state.consecutiveFailures + 1;
      const open =
        (state.breaker === 'half-open' && lease.probe) ||
        (state.breaker === 'closed' && failures >= policy.breakerFailures);
      state = {
        ...state,
        consecutiveFailures: failures,
        ...(open ? { breaker: 'open' as const, openedAt: now } : {}),
        totals: { ...state.totals, failures: state.totals.failures + 1 },
      };
      break;
    }
    case 'rejected':
      if (state.breaker === 'half-open' && lease.probe) state = { ...state, breaker: 'closed' };
      break;
  }
  return state;
}

/**
 * Capped exponential backoff with full jitter (the AWS Architecture Blog's "Full Jitter"):
 * a uniform wait in [0, min(cap, base·2^(retry−1))], never less than the provider's Retry-After.
 */
export function backoffMs(
  retry: number,
  opts: { baseMs: number; capMs: number; retryAfterMs?: number | undefined },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.max(opts.retryAfterMs ?? 0, Math.floor(random() * ceiling));
}

/** A rough token estimate of a request (4 characters a token) plus its output budget. */
export function estimateTokens(promptChars: number, maxTokens: number | undefined): number {
  return Math.ceil(promptChars / 4) + (maxTokens ?? 1000);
}
