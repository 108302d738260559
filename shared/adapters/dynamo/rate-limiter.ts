import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LimiterTimeoutError } from '#shared/domain/errors';
import {
  breakerGate,
  callCostMs,
  decideSlot,
  freeSubagentSlots,
  insertionFor,
  type LimiterState,
  MAX_SHIFTS,
  mayClaimDirectly,
  nextTicket,
  type Pacing,
  pacedBy,
  pacingOf,
  preferredSlot,
  type RateState,
  shiftedStart,
  slotRanges,
  WAITER_MARKER_MS,
  waiterKey,
} from '#shared/domain/limiter-rules';
import type { CallOutcome, LimiterPolicy, ProviderLimits } from '#shared/domain/provider-limits';
import type {
  AcquireOptions,
  LeaseReserver,
  LimiterLease,
  RateLimiter,
  ReservedLease,
} from '#shared/ports/rate-limiter';
import { providerKeys } from './keys';
import { circuitOpen, timeout } from './limiter-errors';
import { type LimiterClock, LimiterItems, type RateRead, realLimiterClock } from './limiter-items';
import { type Attempt, type DynamoLease, LimiterOutcomes, leaseOf } from './limiter-outcomes';
import { HELD_RELEASE_MARGIN_MS, type Issued, LimiterTable } from './limiter-table';
import { LimiterWaits } from './limiter-waits';
import { TicketBatcher } from './ticket-batcher';

/** The partition key of a provider key's limiter ({@link providerKeys}). */
export const providerPartitionKey = providerKeys.pk;

/**
 * A caller gets ready (checks the schedule, claims its slot) a few round trips before its ticket
 * starts, so it goes on time even when the table is slow; at most this long before.
 */
const MAX_LEAD_MS = 1_000;
/** An orchestrator put ahead of the queue goes this long (plus one interval) from now, so no ticket it moves was checked before. */
const INSERT_LEAD_MS = MAX_LEAD_MS + 250;
/** A caller holding a slot keeps it while it waits this long at most for a new ticket. */
const HOLD_MS = 2_000;
/** How long a release keeps retrying a throttled table (the lease expires anyway). */
const RELEASE_BUDGET_MS = 30_000;

export interface DynamoRateLimiterOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** From {@link providerPartitionKey}. */
  pk: string;
  policy: LimiterPolicy;
  maxWaitMs: number;
  /** First pause while waiting for a slot (doubling, with jitter, up to 2 s; a release in this process wakes the waiter). */
  pollMs: number;
  clock?: LimiterClock;
  random?: () => number;
  /** Concurrency slots to an item (default 1): more where one process runs many callers. */
  slotsPerItem?: number;
}

/**
 * The shared limiter of one provider key in DynamoDB, its state split so that the cost of a call
 * does not grow with the number of callers (rules in `limiter-rules.ts`): a call takes a ticket
 * from the key's clock (one atomic update; RPM and TPM), sleeps until it starts (free), checks the
 * control fields once if it slept, claims one slot (an update conditioned on that slot, shared with
 * the claims of its item asked meanwhile) and frees it after the call (one more). Orchestrators come first (a reserved share of the slots, put ahead of queued
 * tickets, and sub-agents give way while one waits for a slot); a tenant is held to a fair share of
 * the slots while another waits; a 429 sets one cooldown for the key and lowers the adaptive ceiling;
 * failures open the circuit breaker. Waiting for a slot backs off from `pollMs` with jitter and wakes
 * early when a call of this process frees one.
 *
 * Hand-written: no library offers a distributed limiter on DynamoDB with these rules.
 */
export class DynamoRateLimiter implements RateLimiter, LeaseReserver {
  private readonly table: LimiterTable;
  private readonly tickets: TicketBatcher;
  private readonly outcomes: LimiterOutcomes;
  private readonly clock: LimiterClock;
  private readonly random: () => number;
  private readonly pacing: Pacing;
  private readonly waits: LimiterWaits;
  /** The control fields as this process last saw them (for guesses only; decisions read the table). */
  private lastRate: RateState | undefined;

  constructor(private readonly o: DynamoRateLimiterOptions) {
    this.clock = o.clock ?? realLimiterClock;
    this.random = o.random ?? Math.random;
    this.pacing = pacingOf(o.policy.limits);
    this.table = new LimiterTable(
      new LimiterItems(o.client, o.tableName, o.pk, o.policy.limits, this.clock, this.random, o.slotsPerItem),
    );
    this.outcomes = new LimiterOutcomes(this.table, this.pacing, o.policy, this.clock);
    this.tickets = new TicketBatcher(this.table, this.pacing);
    this.waits = new LimiterWaits(this.clock, this.random, o.pollMs, o.maxWaitMs);
  }

  get limits(): ProviderLimits {
    return this.o.policy.limits;
  }

  acquire(options: AcquireOptions): Promise<LimiterLease> {
    return this.grant(options, false);
  }

  private async grant(options: AcquireOptions, ahead: boolean, fresh?: RateState): Promise<DynamoLease> {
    const a = { ...this.begin(options), ahead, ...(fresh ? { fresh } : {}) };
    const cached = this.lastRate;
    const gate = cached && breakerGate(cached, this.o.policy, a.started);
    // A circuit seen open stays open until its time has passed: fail fast without asking the table.
    if (gate?.kind === 'open') throw circuitOpen(gate.waitMs, cached?.openedBy);
    if (options.reserved) {
      const adopted = await this.adopt(options.reserved);
      if (adopted) return adopted;
    }
    try {
      let kept: Issued | undefined;
      for (;;) {
        const { read, issued, start, from } = await this.schedule(a, kept);
        kept = issued;
        if (!(await this.passBreaker(a, read))) continue;
        // Claim the slot about a round trip before the call, not at the check (slots idle less).
        if (a.slot === undefined && issued && !a.ahead)
          await this.waits.sleep(
            a,
            from - this.claimLeadMs(read.rate.ceiling) - this.clock.now(),
            a.idleStart,
          );
        // After a wait for a slot, look again (keeping it): a cooldown may have begun, the ticket may be void.
        if (a.slot === undefined && (await this.takeSlot(a, read, issued?.seq))) continue;
        const ticket = issued && { ...issued.ticket, start };
        if (ticket && this.clock.now() > ticket.start + this.pacing.lateMs) continue;
        // A slot held through a long wait (a quarter of its lease): renew it first (if it expired and went, take another).
        if (!(await this.renew(a))) continue;
        if (ticket && !a.ahead) await this.waits.sleep(a, from - this.clock.now(), a.idleStart);
        return leaseOf(a, read.rate, ticket, this.clock.now());
      }
    } catch (error) {
      if (a.slot !== undefined)
        await this.table.freeSlot(a.slot, a.id, this.clock.now() + RELEASE_BUDGET_MS).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Takes up to `count` leases as that many callers would, at once (their tickets in one update of
   * the clock, their claims a few updates), without waiting for their tickets' starts: as many as
   * have tickets starting within `withinMs`, less any the key does not grant by then (slots taken,
   * circuit open). Each is plain JSON, for one caller's first call.
   */
  async reserve(options: AcquireOptions, count: number, withinMs: number): Promise<ReservedLease[]> {
    const { reserved: _none, ...asked } = options;
    const notAfter = Math.min(this.clock.now() + withinMs, options.notAfter ?? Number.POSITIVE_INFINITY);
    const { fit, rate } = await this.ticketsWithin(
      count,
      callCostMs(this.pacing, options.estimatedTokens),
      notAfter,
    );
    const taken = await Promise.allSettled(
      Array.from({ length: fit }, () => this.grant({ ...asked, notAfter }, true, rate)),
    );
    return taken.flatMap((t) => (t.status === 'fulfilled' ? [{ ...t.value }] : []));
  }

  /**
   * How many of `count` tickets costing `costMs` each start by `notAfter` (paced keys: after the
   * clock's queue and any cooldown): those only are taken, so a reservation never moves the clock on
   * for calls it would not hold (a ticket taken is spent whether or not its call goes). With the
   * control fields read for it, which the leases' tickets are then issued on (no second read).
   */
  private async ticketsWithin(count: number, costMs: number, notAfter: number) {
    if (!this.pacing.paced || costMs <= 0) return { fit: count, rate: undefined };
    const { rate } = this.seen(await this.table.readRate(notAfter));
    const from = Math.max(rate.tat, rate.cooldownUntil, this.clock.now() + this.leadMs());
    return { fit: Math.min(count, Math.max(0, Math.floor((notAfter - from) / costMs) + 1)), rate };
  }

  /** Frees a reserved slot nobody used, if the lease still holds it. */
  async unreserve(lease: ReservedLease): Promise<void> {
    const own = lease as unknown as DynamoLease;
    await this.table.freeSlot(own.slot, own.id, this.clock.now() + RELEASE_BUDGET_MS).catch(() => undefined);
    this.waits.wakeAll();
  }

  /**
   * A reserved lease, granted as it is while its slot is held well inside its lease (as a slot
   * held through a wait is, unrenewed) and its ticket is not void; else given back (undefined).
   * Its round trips were its reserver's: none is counted here.
   */
  private async adopt(reserved: ReservedLease): Promise<DynamoLease | undefined> {
    const own = reserved as unknown as DynamoLease;
    const now = this.clock.now();
    const fresh = now - own.acquiredAt <= this.o.policy.leaseMs / 4;
    const onTime = own.ticket === undefined || now <= own.ticket.start + this.pacing.lateMs;
    if (fresh && onTime) {
      // Its ticket's start, if still ahead: the limiter's lead that the reserver did not wait out.
      if (own.ticket && own.ticket.start > now) await this.clock.sleep(own.ticket.start - now);
      return { ...own, waitedMs: 0, limiterMs: 0 };
    }
    await this.unreserve(reserved);
    return undefined;
  }

  async release(lease: LimiterLease, outcome: CallOutcome): Promise<void> {
    const own = lease as DynamoLease;
    const deadline = this.clock.now() + RELEASE_BUDGET_MS;
    try {
      // Well inside its lease nobody else can hold the slot: the write needs no condition and goes
      // with this process's other releases. Near or past its end, only if the slot is still its own.
      if (this.clock.now() < own.acquiredAt + this.o.policy.leaseMs - HELD_RELEASE_MARGIN_MS)
        await this.table.freeHeldSlot(own.slot);
      else await this.table.freeSlot(own.slot, own.id, deadline);
      this.waits.wakeAll();
      await this.outcomes.record(own, outcome, deadline);
    } catch (error) {
      // A table that throttles for the whole budget: the lease expires on its own.
      if (!(error instanceof LimiterTimeoutError)) throw error;
    }
  }

  async freeSlots(): Promise<number> {
    const all = await this.table.readAll(this.clock.now() + this.o.maxWaitMs);
    return freeSubagentSlots(all.rate, all.leases, this.o.policy, this.clock.now());
  }

  async snapshot(): Promise<{ limits: ProviderLimits; state: LimiterState }> {
    const all = await this.table.readAll(this.clock.now() + this.o.maxWaitMs);
    const now = this.clock.now();
    const live = all.leases.filter((l) => l.expiresAt > now);
    return {
      limits: this.o.policy.limits,
      state: {
        ...all.rate,
        leases: Object.fromEntries(live.map((l) => [l.id, l])),
        totals: { ...all.rate.totals, granted: all.granted },
      },
    };
  }

  private begin(options: AcquireOptions): Attempt {
    const started = this.clock.now();
    return {
      id: randomUUID(),
      role: options.role,
      tenantId: options.tenantId,
      costMs: callCostMs(this.pacing, options.estimatedTokens),
      started,
      deadline: Math.min(started + this.o.maxWaitMs, options.notAfter ?? Number.POSITIVE_INFINITY),
      reason: this.pacing.paced ? pacedBy(this.pacing, options.estimatedTokens) : 'concurrency',
      slot: undefined,
      acquiredAt: 0,
      probe: false,
      atCeiling: false,
      queuedMs: 0,
      idleStart: Number.NEGATIVE_INFINITY,
    };
  }

  /**
   * Waits for the call's turn: unpaced, only for a cooldown; paced, for its ticket's start (moved
   * later by orchestrators put ahead of it), checking the control fields once it slept. The call
   * goes `from` the start or the end of a cooldown, whichever is later; a ticket that cannot go
   * within `lateMs` of its start is void and the caller takes another. A ticket `kept` from before
   * is checked against the control fields again.
   */
  private async schedule(
    a: Attempt,
    kept?: Issued,
  ): Promise<{ read: RateRead; issued?: Issued; start: number; from: number }> {
    if (!this.pacing.paced) {
      for (;;) {
        const read = this.seen(await this.table.readRate(a.deadline));
        const cooldown = read.rate.cooldownUntil - this.clock.now();
        if (cooldown <= 0) return { read, start: this.clock.now(), from: this.clock.now() };
        await this.waits.pauseFor(a, 'cooldown', cooldown);
      }
    }
    let issued = kept ? { ...kept, read: await this.table.readRate(a.deadline) } : await this.issue(a);
    // The start last checked after a sleep: unchanged, the caller goes on (however the lead moved).
    let checked = kept ? issued.ticket.start : undefined;
    for (;;) {
      const read = this.seen(issued.read);
      const gate = breakerGate(read.rate, this.o.policy, this.clock.now());
      if (gate.kind === 'open') throw circuitOpen(gate.waitMs, read.rate.openedBy);
      const start = shiftedStart(issued.ticket, read.rate.shiftEpoch, read.rate.shifts);
      const now = this.clock.now();
      // A ticket whose call would go within a cooldown waits for its end, if it is not void by then.
      const from = Math.max(start ?? now, read.rate.cooldownUntil);
      if (start === undefined || Math.max(now, from) > start + this.pacing.lateMs) {
        if (from > now) await this.waits.pauseFor(a, 'cooldown', from - now);
        issued = await this.issue(a);
        await this.letSlotGoIfFar(a, issued.ticket.start);
        continue;
      }
      if (from > a.deadline) throw timeout(a, this.o.maxWaitMs);
      const wake = from - this.leadMs();
      // Taken ahead: its caller sleeps until the start (a ticket within the wait asked is never moved).
      if (wake <= now || from === checked || a.ahead) return { read, issued, start, from };
      await this.waits.sleep(a, wake - now, a.idleStart);
      checked = from;
      issued = { ...issued, read: await this.table.readRate(a.deadline) };
    }
  }

  /** Takes a ticket; an orchestrator facing a long queue is put ahead of it instead. */
  private async issue(a: Attempt): Promise<Issued> {
    // A ticket never starts before the caller can have it back (a slow table never voids it on arrival).
    const floor = nextTicket(0, this.clock.now() + this.leadMs(), this.pacing, 0).start;
    a.idleStart = floor;
    let known = this.lastRate;
    if (a.role === 'orchestrator') {
      known = a.fresh ?? this.seen(await this.table.readRate(a.deadline)).rate;
      a.fresh = undefined; // once: a ticket issued again reads the table again
      const now = this.clock.now();
      const ahead = insertionFor(now, known.tat, this.pacing, a.costMs, INSERT_LEAD_MS);
      if (ahead && known.shifts.length < MAX_SHIFTS) {
        const inserted = await this.table.insertTicket(ahead.start, ahead.shift, a.costMs, a.deadline);
        if (inserted) return inserted;
      }
    }
    // Guess which branch of the clock's update applies (a wrong guess costs one more write).
    const busyFirst = known === undefined || known.tat >= floor;
    const prune = known !== undefined && known.shifts.length > 0 && !busyFirst;
    const issued = await this.tickets.take(a.costMs, floor, busyFirst, prune, a.deadline);
    a.idleStart = issued.floor ?? floor; // later when taken with others: waiting for them is the limiter's
    return issued;
  }

  /** The breaker: passes, throws while open, makes this call the probe, or waits (false: look again). */
  private async passBreaker(a: Attempt, read: RateRead): Promise<boolean> {
    const now = this.clock.now();
    const gate = breakerGate(read.rate, this.o.policy, now);
    if (gate.kind === 'pass' || read.rate.probe?.id === a.id) return true;
    if (gate.kind === 'open') throw circuitOpen(gate.waitMs, read.rate.openedBy);
    // A lease taken ahead is never the probe, nor waits for one: its caller may make no call, and
    // a probe given back unused would hold every caller off until it expired.
    if (a.ahead)
      throw new LimiterTimeoutError('no lease is taken ahead while the circuit is half-open', 'probing');
    if (gate.kind === 'try-probe') {
      const probe = { id: a.id, expiresAt: now + this.o.policy.leaseMs };
      a.probe = await this.table.tryProbe(read.rate, probe, a.deadline);
      return a.probe;
    }
    a.reason = 'probing';
    await this.waits.backoff(a, 0);
    return false;
  }

  /**
   * Claims the preferred slot if nobody it must give way to waits, else looks at all the slots;
   * true when it had to wait for one.
   */
  private async takeSlot(a: Attempt, read: RateRead, seq: number | undefined): Promise<boolean> {
    const n = seq ?? Math.floor(this.random() * 2 ** 30);
    const preferred = preferredSlot(a.role, n, read.rate.ceiling, this.o.policy);
    const direct = mayClaimDirectly(read.rate, a.role, a.tenantId, this.o.policy, this.clock.now());
    if (direct && (await this.claim(a, preferred))) return false;
    const key = waiterKey(a.role, a.tenantId);
    // From the first refusal to the grant the caller queues for a slot, its polls included.
    let denied: { at: number; queuedMs: number } | undefined;
    for (let round = 0; ; round++) {
      const all = await this.table.readAll(a.deadline);
      this.seen(all);
      const now = this.clock.now();
      const decision = decideSlot(all.rate, all.leases, { ...a, preferred }, this.o.policy, now);
      const live = all.leases.filter((l) => l.expiresAt > now).length;
      a.atCeiling ||= live >= slotRanges(all.rate.ceiling, this.o.policy).usable - 1;
      if (decision.granted) {
        if (!(await this.claim(a, decision.slot))) continue;
        if (denied) a.queuedMs = denied.queuedMs + (this.clock.now() - denied.at);
        if ((all.rate.waiters[key] ?? 0) > now) await this.table.clearWaiter(key, a.deadline);
        return denied !== undefined;
      }
      a.reason = decision.reason;
      denied ??= { at: now, queuedMs: a.queuedMs };
      const marker = all.rate.waiters[key];
      // Refresh the marker only when it is missing or half gone: fewer writes while waiting.
      if (marker === undefined || marker - now < WAITER_MARKER_MS / 2)
        await this.table.markWaiter(key, now + WAITER_MARKER_MS, all.exists, a.deadline);
      await this.waits.backoff(a, round);
    }
  }

  private async claim(a: Attempt, slot: number): Promise<boolean> {
    const now = this.clock.now();
    const lease = {
      id: a.id,
      role: a.role,
      tenantId: a.tenantId,
      acquiredAt: now,
      expiresAt: now + this.o.policy.leaseMs,
    };
    if ((await this.table.claimSlot(slot, lease, a.deadline)) === undefined) return false;
    a.slot = slot;
    a.acquiredAt = now;
    return true;
  }

  /** A slot is kept through a short wait for a new ticket only: a long one would idle it. */
  private async letSlotGoIfFar(a: Attempt, start: number): Promise<void> {
    if (a.slot === undefined || start - this.clock.now() <= Math.min(this.o.policy.leaseMs / 4, HOLD_MS))
      return;
    await this.table.freeSlot(a.slot, a.id, a.deadline);
    a.slot = undefined;
    this.waits.wakeAll();
  }

  private async renew(a: Attempt): Promise<boolean> {
    const now = this.clock.now();
    if (a.slot === undefined || now - a.acquiredAt <= this.o.policy.leaseMs / 4) return true;
    const expiresAt = now + this.o.policy.leaseMs;
    if (await this.table.renewSlot(a.slot, a.id, now, expiresAt, a.deadline)) {
      a.acquiredAt = now;
      return true;
    }
    a.slot = undefined;
    return false;
  }

  private seen<T extends RateRead>(read: T): T {
    this.lastRate = read.rate;
    return read;
  }

  /** How early a caller checks its ticket: the two round trips it needs, with room for a slow one. */
  private leadMs(): number {
    return Math.min(MAX_LEAD_MS, 10 + 4 * this.table.io.rttMs);
  }

  /**
   * How early it claims its slot: the one round trip, with some room, but never so early that the
   * callers claiming ahead of their start would hold more than a quarter of the slots.
   */
  private claimLeadMs(ceiling: number): number {
    const { subCapacity } = slotRanges(ceiling, this.o.policy);
    const ahead = Math.max(5, (this.pacing.intervalMs * subCapacity) / 4);
    return Math.min(this.leadMs(), 5 + 2 * this.table.io.rttMs, ahead);
  }
}
