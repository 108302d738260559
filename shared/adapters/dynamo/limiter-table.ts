import {
  MAX_SHIFTS,
  type Pacing,
  type RateLimitedChange,
  type RateState,
  type Shift,
  type SlotLease,
  type Ticket,
} from '#shared/domain/limiter-rules';
import type { LimiterItems, RateRead } from './limiter-items';
import { HELD_RELEASE_BUDGET_MS, LimiterSlots } from './limiter-slots';
import { RateReads } from './rate-reads';

/** A ticket as issued: when its call may start, its number, and the key's state right after. */
export interface Issued {
  ticket: Ticket;
  seq: number;
  read: RateRead;
  /** The earliest start it was taken with (an idle clock's): before that, no queue held it back. */
  floor?: number;
}

/**
 * Attributes later writes rely on (nested paths, conditions on their values); every write that may
 * create the control item sets them if missing.
 */
const INIT_LISTS =
  'waiters = if_not_exists(waiters, :emptyMap), shifts = if_not_exists(shifts, :emptyList), shiftEpoch = if_not_exists(shiftEpoch, :zero)';
const INIT_FIELDS = `${INIT_LISTS}, cooldownUntil = if_not_exists(cooldownUntil, :zero), lastDecreaseAt = if_not_exists(lastDecreaseAt, :zero)`;
const INIT_VALUES = { ':emptyMap': {}, ':emptyList': [], ':zero': 0 };

/**
 * A lease with more than this left is freed by {@link LimiterTable.freeHeldSlot}: its write ends
 * (or gives up) within the budget, and the rest covers clocks of other hosts that run ahead.
 */
export const HELD_RELEASE_MARGIN_MS = HELD_RELEASE_BUDGET_MS + 10_000;

/**
 * The limiter's changes, each one atomic or conditional update of one small item: take a ticket
 * from the clock, put an orchestrator ahead of the queue, claim and free a slot, mark a waiter,
 * record a 429 or a failure, open and close the circuit, move the clock.
 */
export class LimiterTable {
  private readonly reads: RateReads;
  private readonly slots: LimiterSlots;

  constructor(readonly io: LimiterItems) {
    this.reads = new RateReads((deadline) => io.readRate(deadline));
    this.slots = new LimiterSlots(io);
  }

  /** The control item, read after this call (shared with the callers asking meanwhile: RateReads). */
  readRate(deadline: number): Promise<RateRead> {
    return this.reads.next(deadline);
  }

  readAll(deadline: number): Promise<RateRead & { leases: SlotLease[]; granted: number }> {
    return this.io.readAll(deadline);
  }

  /**
   * Takes the next tickets, one per cost, back to back: the first starts at the clock or at `floor`
   * if the clock is behind it (`nextTicket` of the rules), each next one where the one before ends.
   * One atomic update for all of them, as if taken one after the other (the branch that does not
   * match costs a retry).
   */
  async takeTickets(
    pacing: Pacing,
    costs: readonly number[],
    floor: number,
    busyFirst: boolean,
    pruneShifts: boolean,
    deadline: number,
  ): Promise<Issued[]> {
    const total = costs.reduce((a, b) => a + b, 0);
    // One floor for every attempt: the clock only moves on, so once the idle branch failed the busy one
    // matches (and the other way round unless the clock passed the floor in between).
    const now = this.io.clock.now();
    for (let attempt = 0; ; attempt++) {
      const busy = busyFirst === (attempt % 2 === 0);
      const out = await this.io.update(
        busy
          ? {
              UpdateExpression: 'SET tat = tat + :cost, #ttl = :ttl ADD seq :n',
              ConditionExpression: 'tat >= :floor',
              ExpressionAttributeValues: { ':cost': total, ':floor': floor, ':n': costs.length },
            }
          : this.restartClock(floor, total, costs.length, pruneShifts ? now - pacing.lateMs : undefined),
        deadline,
      );
      if (!out) {
        // An idle clock with a shift list that is not old enough to drop: restart it keeping the list.
        if (pruneShifts && !busy) pruneShifts = false;
        continue;
      }
      const read = this.io.rateOf(out.Attributes);
      let start = busy ? read.rate.tat - total : floor;
      return costs.map((costMs, i) => {
        const ticket = {
          start,
          costMs,
          shiftEpoch: read.rate.shiftEpoch,
          shiftCount: read.rate.shifts.length,
        };
        start += costMs;
        return { ticket, seq: read.rate.seq - costs.length + 1 + i, read, floor };
      });
    }
  }

  /** The update that restarts an idle clock at `floor` (dropping old orchestrator insertions when it may). */
  private restartClock(floor: number, costMs: number, n: number, pruneBefore: number | undefined) {
    const values = { ':start': floor + costMs, ':floor': floor, ':n': n, ...INIT_VALUES };
    if (pruneBefore === undefined)
      return {
        UpdateExpression: `SET tat = :start, #ttl = :ttl, ${INIT_FIELDS} ADD seq :n`,
        ConditionExpression: 'attribute_not_exists(tat) OR tat < :floor',
        ExpressionAttributeValues: values,
      };
    // Every ticket issued before started more than lateMs ago: none can still need the list.
    return {
      UpdateExpression: 'SET tat = :start, #ttl = :ttl, shifts = :emptyList ADD seq :n, shiftEpoch :one',
      ConditionExpression: 'tat < :pruneBefore',
      ExpressionAttributeValues: {
        ':start': floor + costMs,
        ':n': n,
        ':one': 1,
        ':emptyList': [],
        ':pruneBefore': pruneBefore,
      },
    };
  }

  /**
   * Puts an orchestrator call at `start`, ahead of the queued tickets (which move `shift.by`
   * later); undefined when the queue no longer reaches past `start` or the list is full.
   */
  async insertTicket(
    start: number,
    shift: Shift,
    costMs: number,
    deadline: number,
  ): Promise<Issued | undefined> {
    const out = await this.io.update(
      {
        UpdateExpression:
          'SET tat = tat + :by, shifts = list_append(shifts, :shift), #ttl = :ttl ADD seq :one',
        ConditionExpression: 'tat > :start AND size(shifts) < :max',
        ExpressionAttributeValues: {
          ':by': shift.by,
          ':shift': [shift],
          ':start': start,
          ':max': MAX_SHIFTS,
          ':one': 1,
        },
      },
      deadline,
    );
    if (!out) return undefined;
    const read = this.io.rateOf(out.Attributes);
    return {
      ticket: { start, costMs, shiftEpoch: read.rate.shiftEpoch, shiftCount: read.rate.shifts.length },
      seq: read.rate.seq,
      read,
    };
  }

  /** Claims a free (or expired) slot: its count of grants after the claim, or undefined if another caller holds it. */
  claimSlot(slot: number, lease: Omit<SlotLease, 'slot'>, deadline: number): Promise<number | undefined> {
    return this.slots.claim(slot, lease, deadline);
  }

  /** Renews a lease held while waiting (true), unless it expired and another caller took the slot. */
  renewSlot(slot: number, leaseId: string, acquiredAt: number, expiresAt: number, deadline: number) {
    return this.slots.renew(slot, leaseId, acquiredAt, expiresAt, deadline);
  }

  /**
   * Frees a slot that this caller holds with time to spare on its lease ({@link HELD_RELEASE_MARGIN_MS}):
   * unconditioned, with the frees of its item's other slots asked meanwhile; its writes give up
   * after {@link HELD_RELEASE_BUDGET_MS}, well inside that margin.
   */
  freeHeldSlot(slot: number): Promise<void> {
    return this.slots.freeHeld(slot);
  }

  /** Frees a slot if it is still this lease's (an expired lease may have been taken over). */
  freeSlot(slot: number, leaseId: string, deadline: number): Promise<void> {
    return this.slots.free(slot, leaseId, deadline);
  }

  /** Sets (or refreshes) a waiter's marker; creates the control item first when it does not exist. */
  async markWaiter(key: string, expiresAt: number, exists: boolean, deadline: number): Promise<void> {
    if (!exists)
      await this.io.update(
        { UpdateExpression: `SET #ttl = :ttl, ${INIT_FIELDS}`, ExpressionAttributeValues: INIT_VALUES },
        deadline,
      );
    await this.io.update(
      {
        UpdateExpression: 'SET waiters.#w = :exp',
        ExpressionAttributeNames: { '#w': key },
        ExpressionAttributeValues: { ':exp': expiresAt },
      },
      deadline,
    );
  }

  async clearWaiter(key: string, deadline: number): Promise<void> {
    await this.io.update(
      {
        UpdateExpression: 'REMOVE waiters.#w',
        ConditionExpression: 'attribute_exists(waiters)',
        ExpressionAttributeNames: { '#w': key },
      },
      deadline,
    );
  }

  /** Becomes the one probe of a circuit that may let one through (open past its time, or a probe expired). */
  async tryProbe(
    rate: RateState,
    probe: { id: string; expiresAt: number },
    deadline: number,
  ): Promise<boolean> {
    const out = await this.io.update(
      {
        UpdateExpression: 'SET breaker = :half, probe = :probe',
        ConditionExpression:
          rate.breaker === 'open'
            ? 'breaker = :open AND openedAt = :openedAt'
            : 'breaker = :half AND probe.id = :old',
        ExpressionAttributeValues: {
          ':half': 'half-open',
          ':probe': probe,
          ...(rate.breaker === 'open'
            ? { ':open': 'open', ':openedAt': rate.openedAt }
            : { ':old': rate.probe?.id ?? '' }),
        },
      },
      deadline,
    );
    return out !== undefined;
  }

  /** Records a 429 under a condition on what it read; false: something changed, read again. */
  async recordRateLimited(read: RateRead, change: RateLimitedChange, deadline: number): Promise<boolean> {
    const out = await this.io.update(
      {
        UpdateExpression: `SET cooldownUntil = :until, ceiling = :ceiling, lastDecreaseAt = :decAt, #ttl = :ttl, ${INIT_LISTS} ADD rateLimited :one, decreases :dec`,
        ConditionExpression: read.exists
          ? 'cooldownUntil = :oldUntil AND lastDecreaseAt = :oldDecAt'
          : 'attribute_not_exists(pk)',
        ExpressionAttributeValues: {
          ':until': change.cooldownUntil,
          ':ceiling': change.ceiling,
          ':decAt': change.lastDecreaseAt,
          ':one': 1,
          ':dec': change.decreased ? 1 : 0,
          ...INIT_VALUES,
          ...(read.exists
            ? { ':oldUntil': read.rate.cooldownUntil, ':oldDecAt': read.rate.lastDecreaseAt }
            : {}),
        },
      },
      deadline,
    );
    return out !== undefined;
  }

  /** New tickets start no earlier than `until` (after a cooldown). */
  async pushClock(until: number, deadline: number): Promise<void> {
    await this.io.update(
      {
        UpdateExpression: 'SET tat = :until',
        ConditionExpression: 'tat < :until',
        ExpressionAttributeValues: { ':until': until },
      },
      deadline,
    );
  }

  /** Counts a failure in a row; returns the state after it. */
  async recordFailure(deadline: number): Promise<RateRead> {
    const out = await this.io.update(
      {
        UpdateExpression: `SET #ttl = :ttl, ${INIT_FIELDS} ADD failures :one, failuresTotal :one`,
        ExpressionAttributeValues: { ':one': 1, ...INIT_VALUES },
      },
      deadline,
    );
    return this.io.rateOf(out?.Attributes);
  }

  /** Opens the circuit (from closed, or when the failing call was the probe), keeping what the failure said. */
  async openCircuit(probeId: string | undefined, deadline: number, reason = 'unknown'): Promise<void> {
    await this.io.update(
      {
        UpdateExpression: `SET breaker = :open, openedAt = :now, openedBy = :by, ${INIT_FIELDS} REMOVE probe`,
        ConditionExpression: probeId
          ? 'probe.id = :id'
          : 'attribute_not_exists(breaker) OR breaker = :closed',
        ExpressionAttributeValues: {
          ':open': 'open',
          ':now': this.io.clock.now(),
          ':by': reason.slice(0, 500),
          ...INIT_VALUES,
          ...(probeId ? { ':id': probeId } : { ':closed': 'closed' }),
        },
      },
      deadline,
    );
  }

  /** Closes a half-open circuit after its probe got an answer. */
  async closeProbe(probeId: string, deadline: number): Promise<void> {
    await this.io.update(
      {
        UpdateExpression: 'SET breaker = :closed, failures = :zero REMOVE probe',
        ConditionExpression: 'probe.id = :id',
        ExpressionAttributeValues: { ':closed': 'closed', ':zero': 0, ':id': probeId },
      },
      deadline,
    );
  }

  async resetFailures(deadline: number): Promise<void> {
    await this.io.update(
      {
        UpdateExpression: 'SET failures = :zero',
        ConditionExpression: 'failures > :zero',
        ExpressionAttributeValues: { ':zero': 0 },
      },
      deadline,
    );
  }

  /** Additive increase of the adaptive ceiling (never past the limit). */
  async raiseCeiling(by: number, deadline: number): Promise<void> {
    await this.io.update(
      {
        UpdateExpression: 'ADD ceiling :by',
        ConditionExpression: 'ceiling < :max',
        ExpressionAttributeValues: { ':by': by, ':max': this.io.limits.maxConcurrency },
      },
      deadline,
    );
  }

  /** Moves the clock: later when a call used more tokens than estimated; back only if nobody queued since. */
  async correctClock(deltaMs: number, expectedTat: number | undefined, deadline: number): Promise<void> {
    await this.io.update(
      expectedTat === undefined
        ? { UpdateExpression: 'ADD tat :d', ExpressionAttributeValues: { ':d': deltaMs } }
        : {
            UpdateExpression: 'SET tat = :t',
            ConditionExpression: 'tat = :expected',
            ExpressionAttributeValues: { ':t': expectedTat + deltaMs, ':expected': expectedTat },
          },
      deadline,
    );
  }
}
