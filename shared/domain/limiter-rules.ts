/**
 * The pure rules of the shared limiter, with its state split so that no caller rewrites one item
 * holding everything:
 *
 * - **tickets** (RPM and TPM): one clock per key, the GCRA's theoretical arrival time `tat`. A caller
 *   takes the next ticket with one atomic update (`tat += cost`) and learns when its call may start;
 *   waiting for it costs nothing. One clock paces both limits: a call costs
 *   max(window/RPM, tokens·window/TPM) of it (at {@link PACING_SAFETY} of the limits).
 * - **slots** (concurrency): one item per slot, claimed with a conditional write and freed by its
 *   holder; a slot whose lease expired may be claimed again.
 * - **control** (cooldown, adaptive ceiling, breaker, waiter markers, orchestrator insertions):
 *   small fields beside the clock, written on 429s, failures and by waiters, never by every call.
 *
 * Why a ticket never breaks a limit: tickets start at least one interval apart and a call goes
 * within `lateMs` after its ticket's start (else the ticket is void and the caller takes another),
 * so any window holds the calls of tickets starting in a span of window + lateMs:
 * ⌊(W + late)/interval⌋ + 1 ≤ RPM as long as late < W·(1/safety − 1) (2.04 % of the window).
 * Tokens: at most TPM·safety·(1 + late/W) + the largest call, within TPM for calls up to 0.5 % of it.
 */
import {
  AIMD_DECREASE,
  type BreakerState,
  type CallerRole,
  type DenyReason,
  type LimiterPolicy,
  PACING_SAFETY,
  type ProviderLimits,
  reservedForOrchestrator,
  usableConcurrency,
} from './provider-limits';

/** A call may start at most this share of the window after its ticket's start. */
export const LATE_SHARE = 0.015;
/** An idle clock restarts this share of the window in the past, so callers served late catch up. */
export const CATCH_UP_SHARE = 0.005;
/** A waiter's marker lives this long without being refreshed (longer than the longest backoff). */
export const WAITER_MARKER_MS = 5_000;
/** At most this many orchestrator insertions wait in the schedule; beyond, orchestrators queue. */
export const MAX_SHIFTS = 50;

/** The clock's parameters for a key's limits. */
export interface Pacing {
  /** false: neither RPM nor TPM is configured; calls take no ticket. */
  paced: boolean;
  /** Clock time one request costs (window / (RPM·safety)); 0 without RPM. */
  intervalMs: number;
  /** Clock time one token costs (window / (TPM·safety)); 0 without TPM. */
  perTokenMs: number;
  /** How long after its ticket's start a call may still go. */
  lateMs: number;
  /** How far in the past an idle clock restarts. */
  catchUpMs: number;
}

export function pacingOf(limits: ProviderLimits): Pacing {
  const intervalMs = limits.rpm === undefined ? 0 : limits.windowMs / (limits.rpm * PACING_SAFETY);
  const perTokenMs = limits.tpm === undefined ? 0 : limits.windowMs / (limits.tpm * PACING_SAFETY);
  return {
    paced: limits.rpm !== undefined || limits.tpm !== undefined,
    intervalMs,
    perTokenMs,
    lateMs: limits.windowMs * LATE_SHARE,
    catchUpMs: limits.windowMs * CATCH_UP_SHARE,
  };
}

/** The clock time a call costs: its request or its tokens, whichever is dearer. */
export function callCostMs(pacing: Pacing, tokens: number): number {
  return Math.max(pacing.intervalMs, Math.max(0, tokens) * pacing.perTokenMs);
}

/**
 * The step of the clock a ticket takes (GCRA): it starts at the clock, or `catchUpMs` before the
 * caller is ready if the clock fell behind (an idle key), and moves the clock on by its cost. The
 * caller is ready when the answer is back (now plus a round trip or two; a later start only widens
 * the spacing). The table performs it as one conditional update of the clock, one branch for each
 * case of the max.
 */
export function nextTicket(
  tat: number,
  readyAt: number,
  pacing: Pacing,
  costMs: number,
): { start: number; tat: number } {
  const start = Math.max(tat, readyAt - pacing.catchUpMs);
  return { start, tat: start + costMs };
}

/** What the clock waits for: requests, or tokens when a call's tokens cost more than its request. */
export function pacedBy(pacing: Pacing, tokens: number): 'rpm' | 'tpm' {
  return tokens * pacing.perTokenMs > pacing.intervalMs ? 'tpm' : 'rpm';
}

/**
 * An orchestrator call put ahead of queued tickets: every ticket issued before it whose start is
 * at or after `at` moves `by` later (tickets keep their order and spacing).
 */
export interface Shift {
  at: number;
  by: number;
}

/** A ticket: when its call may start, and which schedule changes it has already seen. */
export interface Ticket {
  start: number;
  /** The clock's cost of the call (its share of RPM/TPM). */
  costMs: number;
  /** The shift list's epoch and length when the ticket was issued. */
  shiftEpoch: number;
  shiftCount: number;
}

/** The ticket's start after the insertions made since it was issued; undefined: void (list cleared). */
export function shiftedStart(ticket: Ticket, epoch: number, shifts: readonly Shift[]): number | undefined {
  if (epoch !== ticket.shiftEpoch) return undefined;
  let start = ticket.start;
  for (const shift of shifts.slice(ticket.shiftCount)) if (start >= shift.at) start += shift.by;
  return start;
}

/**
 * Where an orchestrator call goes when the queue is long: `leadMs` + one interval from now (so no
 * ticket it moves can have been checked before the insertion is visible), the tickets from one
 * interval before that moved behind it. Undefined: the queue ends earlier, a plain ticket is as good.
 */
export function insertionFor(
  now: number,
  tat: number,
  pacing: Pacing,
  costMs: number,
  leadMs: number,
): { start: number; shift: Shift } | undefined {
  const at = now + leadMs;
  const start = at + pacing.intervalMs;
  if (tat <= start) return undefined;
  return { start, shift: { at, by: pacing.intervalMs + costMs } };
}

/** A slot's lease, as stored in its item. */
export interface SlotLease {
  slot: number;
  id: string;
  role: CallerRole;
  tenantId: string;
  acquiredAt: number;
  expiresAt: number;
}

/** The one probe let through while the circuit is half-open. */
export interface Probe {
  id: string;
  expiresAt: number;
}

/** The control fields of a key, beside its clock. */
export interface RateState {
  /** GCRA theoretical arrival time (epoch ms) and the number of tickets issued. */
  tat: number;
  seq: number;
  cooldownUntil: number;
  /** Adaptive concurrency ceiling (fractional; the usable slots are its floor). */
  ceiling: number;
  lastDecreaseAt: number;
  consecutiveFailures: number;
  breaker: BreakerState;
  openedAt: number;
  /** What the failure that opened the circuit said (the cause an open circuit reports). */
  openedBy?: string;
  probe: Probe | undefined;
  shiftEpoch: number;
  shifts: Shift[];
  /** `<role>#<tenantId>` → expiry of a waiter's marker. */
  waiters: Record<string, number>;
  totals: { rateLimited: number; failures: number; decreases: number };
}

export function initialRateState(limits: ProviderLimits): RateState {
  return {
    tat: 0,
    seq: 0,
    cooldownUntil: 0,
    ceiling: limits.maxConcurrency,
    lastDecreaseAt: 0,
    consecutiveFailures: 0,
    breaker: 'closed',
    openedAt: 0,
    probe: undefined,
    shiftEpoch: 0,
    shifts: [],
    waiters: {},
    totals: { rateLimited: 0, failures: 0, decreases: 0 },
  };
}

/** Everything a key's limiter holds (for reports and tests). */
export interface LimiterState extends RateState {
  /** The unexpired leases by id. */
  leases: Record<string, SlotLease>;
  totals: { granted: number; rateLimited: number; failures: number; decreases: number };
}

export const waiterKey = (role: CallerRole, tenantId: string) => `${role}#${tenantId}`;

const liveWaiters = (waiters: Record<string, number>, now: number) =>
  Object.entries(waiters)
    .filter(([, expiresAt]) => expiresAt > now)
    .map(([key]) => key);

/** The breaker before a call: pass, fail fast while open, become the probe, or wait for the probe. */
export type BreakerGate =
  | { kind: 'pass' }
  | { kind: 'open'; waitMs: number }
  | { kind: 'try-probe' }
  | { kind: 'probing' };

export function breakerGate(rate: RateState, policy: LimiterPolicy, now: number): BreakerGate {
  if (rate.breaker === 'open') {
    const reopensAt = rate.openedAt + policy.breakerOpenMs;
    return now < reopensAt ? { kind: 'open', waitMs: reopensAt - now } : { kind: 'try-probe' };
  }
  if (rate.breaker === 'half-open')
    return rate.probe && rate.probe.expiresAt > now ? { kind: 'probing' } : { kind: 'try-probe' };
  return { kind: 'pass' };
}

/** The slots of a key for a role: sub-agents use [0, subCapacity), orchestrators any below `usable`. */
export function slotRanges(ceiling: number, policy: LimiterPolicy) {
  const usable = usableConcurrency(ceiling, policy.limits);
  const reserved = reservedForOrchestrator(usable, policy.orchestratorShare);
  return { usable, reserved, subCapacity: usable - reserved };
}

/** The slot a caller tries first: spread by its ticket number; orchestrators start in their reserve. */
export function preferredSlot(role: CallerRole, n: number, ceiling: number, policy: LimiterPolicy): number {
  const { usable, reserved, subCapacity } = slotRanges(ceiling, policy);
  if (role === 'subagent') return n % subCapacity;
  return reserved > 0 ? subCapacity + (n % reserved) : n % usable;
}

/**
 * Whether a caller may claim its preferred slot without looking at the others: nobody it must
 * give way to is waiting (an orchestrator, another tenant) and the ceiling did not fall within a
 * lease's lifetime (slots above it may still be held).
 */
export function mayClaimDirectly(
  rate: RateState,
  role: CallerRole,
  tenantId: string,
  policy: LimiterPolicy,
  now: number,
): boolean {
  if (rate.lastDecreaseAt > 0 && now - rate.lastDecreaseAt < policy.leaseMs) return false;
  if (role === 'orchestrator') return true;
  return liveWaiters(rate.waiters, now).every((k) => k === waiterKey('subagent', tenantId));
}

export type SlotDecision = { granted: true; slot: number } | { granted: false; reason: DenyReason };

/**
 * A free slot in [from, to): the preferred one, else the nearest below it. Tickets prefer slots in
 * turn, so the slots just below are the ones the next tickets will want last.
 */
function freeSlot(
  taken: ReadonlySet<number>,
  from: number,
  to: number,
  preferred: number,
): number | undefined {
  const size = to - from;
  for (let i = 0; i < size; i++) {
    const slot = from + ((((preferred - from - i) % size) + size) % size);
    if (!taken.has(slot)) return slot;
  }
  return undefined;
}

/**
 * Decides a slot from a view of all the key's slots: orchestrators first (while one waits no
 * sub-agent takes a slot) and with a reserved share; sub-agents of a tenant held to a fair share of
 * theirs while another tenant waits; never more leases than the usable concurrency.
 */
export function decideSlot(
  rate: RateState,
  leases: readonly SlotLease[],
  req: { role: CallerRole; tenantId: string; preferred: number },
  policy: LimiterPolicy,
  now: number,
): SlotDecision {
  const live = leases.filter((l) => l.expiresAt > now);
  const { usable, subCapacity } = slotRanges(rate.ceiling, policy);
  const taken = new Set(live.map((l) => l.slot));
  const deny = (reason: DenyReason): SlotDecision => ({ granted: false, reason });
  if (live.length >= usable) return deny('concurrency');
  if (req.role === 'orchestrator') {
    const slot =
      freeSlot(taken, subCapacity, usable, req.preferred) ?? freeSlot(taken, 0, usable, req.preferred);
    return slot === undefined ? deny('concurrency') : { granted: true, slot };
  }
  const waiters = liveWaiters(rate.waiters, now);
  if (waiters.some((k) => k.startsWith('orchestrator#'))) return deny('orchestrator-priority');
  const subLeases = live.filter((l) => l.role === 'subagent');
  if (subLeases.length >= subCapacity) return deny('concurrency');
  const waitingTenants = waiters
    .filter((k) => k.startsWith('subagent#'))
    .map((k) => k.slice('subagent#'.length))
    .filter((t) => t !== req.tenantId);
  if (waitingTenants.length > 0) {
    const tenants = new Set([...subLeases.map((l) => l.tenantId), ...waitingTenants, req.tenantId]);
    const fairShare = Math.max(1, Math.ceil(subCapacity / tenants.size));
    const held = subLeases.filter((l) => l.tenantId === req.tenantId).length;
    if (held >= fairShare) return deny('fair-share');
  }
  const slot = freeSlot(taken, 0, subCapacity, req.preferred);
  return slot === undefined ? deny('concurrency') : { granted: true, slot };
}

/** How many more sub-agent calls the key's slots take now (what a Map's width should stay within). */
export function freeSubagentSlots(
  rate: RateState,
  leases: readonly SlotLease[],
  policy: LimiterPolicy,
  now: number,
): number {
  const live = leases.filter((l) => l.expiresAt > now);
  const { usable, subCapacity } = slotRanges(rate.ceiling, policy);
  const subs = live.filter((l) => l.role === 'subagent').length;
  return Math.max(0, Math.min(subCapacity - subs, usable - live.length));
}

/** The control fields a 429 changes (written under a condition on the fields it read). */
export interface RateLimitedChange {
  cooldownUntil: number;
  /** New tickets start after the cooldown. */
  tat: number;
  ceiling: number;
  lastDecreaseAt: number;
  decreased: boolean;
  closeProbe: boolean;
}

/**
 * After a 429: one cooldown for the whole key (Retry-After, else the configured cooldown) and the
 * ceiling down to 70 % of the calls in flight, once per generation of leases (leases taken before
 * the last decrease saw the old ceiling).
 */
export function afterRateLimited(
  rate: RateState,
  call: { inUse: number; acquiredAt: number; probe: boolean; retryAfterMs: number | undefined },
  policy: LimiterPolicy,
  now: number,
): RateLimitedChange {
  const until = Math.max(rate.cooldownUntil, now + (call.retryAfterMs ?? policy.cooldownMs));
  const decreased = call.acquiredAt >= rate.lastDecreaseAt;
  return {
    cooldownUntil: until,
    tat: Math.max(rate.tat, until),
    ceiling: decreased ? Math.max(1, Math.min(rate.ceiling, call.inUse) * AIMD_DECREASE) : rate.ceiling,
    lastDecreaseAt: decreased ? now : rate.lastDecreaseAt,
    decreased,
    // The provider answered: it is alive.
    closeProbe: rate.breaker === 'half-open' && call.probe,
  };
}

/** Whether a failure opens the circuit: the probe failed, or too many failures in a row. */
export function opensCircuit(
  breaker: BreakerState,
  failuresInRow: number,
  probe: boolean,
  policy: LimiterPolicy,
): boolean {
  return (
    (breaker === 'half-open' && probe) || (breaker === 'closed' && failuresInRow >= policy.breakerFailures)
  );
}

/** Additive increase: 1/ceiling a success, while the ceiling is below the limit. */
export function ceilingIncrease(ceiling: number, limits: ProviderLimits): number {
  return ceiling < limits.maxConcurrency ? 1 / Math.max(1, ceiling) : 0;
}
