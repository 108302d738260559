import {
  afterRateLimited,
  callCostMs,
  ceilingIncrease,
  opensCircuit,
  type Pacing,
  type RateState,
  type Ticket,
} from '#shared/domain/limiter-rules';
import type { CallerRole, CallOutcome, DenyReason, LimiterPolicy } from '#shared/domain/provider-limits';
import type { LimiterLease } from '#shared/ports/rate-limiter';
import type { LimiterClock } from './limiter-items';
import type { LimiterTable } from './limiter-table';

/** The least clock time (ms) worth a write to give back when a call used fewer tokens than its ticket paid for. */
const MIN_REFUND_MS = 1;

/** One acquisition in progress. */
export interface Attempt {
  id: string;
  role: CallerRole;
  tenantId: string;
  costMs: number;
  started: number;
  deadline: number;
  /** What it waited for last (named when it gives up). */
  reason: DenyReason;
  slot: number | undefined;
  acquiredAt: number;
  probe: boolean;
  atCeiling: boolean;
  /** Queued so far for a slot or a rate window; sleeping before `idleStart` is the limiter's own lead. */
  queuedMs: number;
  idleStart: number;
  /** Taken ahead for a caller not running yet: it does not sleep until its ticket's start (its caller does). */
  ahead?: boolean;
  /** The control fields its reserver read an instant ago: its first ticket is issued on them, not on a new read. */
  fresh?: RateState;
}

/** The lease handed out: its slot, its ticket and what it saw, for the release. */
export interface DynamoLease extends LimiterLease {
  readonly slot: number;
  readonly acquiredAt: number;
  readonly ticket: Ticket | undefined;
  readonly probe: boolean;
  /** The slots were all but full when it got one: the ceiling is what limits (evidence for raising it). */
  readonly atCeiling: boolean;
  readonly seenCeiling: number;
  readonly seenFailures: number;
  /** The clock's value if nobody had queued behind this call (its unused tokens may go back). */
  readonly refundFrom: number | undefined;
}

/**
 * What the key learns from how a call ended: a success closes a half-open circuit, resets the
 * failures in a row, raises the adaptive ceiling and corrects the clock for the tokens used; a 429
 * sets the cooldown and lowers the ceiling; a failure counts toward opening the circuit.
 */
export class LimiterOutcomes {
  constructor(
    private readonly table: LimiterTable,
    private readonly pacing: Pacing,
    private readonly policy: LimiterPolicy,
    private readonly clock: LimiterClock,
  ) {}

  async record(own: DynamoLease, outcome: CallOutcome, deadline: number): Promise<void> {
    if (outcome.kind === 'success') await this.afterSuccess(own, outcome.tokens, deadline);
    else if (outcome.kind === 'rate-limited')
      await this.afterRateLimited(own, outcome.retryAfterMs, deadline);
    else if (outcome.kind === 'failure') await this.afterFailure(own, deadline, outcome.reason);
    else if (own.probe) await this.table.closeProbe(own.id, deadline);
  }

  private async afterSuccess(own: DynamoLease, tokens: number, deadline: number): Promise<void> {
    if (own.probe) await this.table.closeProbe(own.id, deadline);
    else if (own.seenFailures > 0) await this.table.resetFailures(deadline);
    const raise = own.atCeiling ? ceilingIncrease(own.seenCeiling, this.policy.limits) : 0;
    if (raise > 0) await this.table.raiseCeiling(raise, deadline);
    if (!own.ticket) return;
    // The ticket was paced on the estimate: more tokens move the clock on; fewer go back only if
    // nobody queued behind (moving it back under queued tickets could exceed the TPM).
    const delta = callCostMs(this.pacing, tokens) - own.ticket.costMs;
    if (delta > 0) await this.table.correctClock(delta, undefined, deadline);
    // A refund under MIN_REFUND_MS is not worth its write: keeping it only holds later calls back a little longer.
    else if (delta <= -MIN_REFUND_MS && own.refundFrom !== undefined)
      await this.table.correctClock(delta, own.refundFrom, deadline);
  }

  private async afterRateLimited(
    own: DynamoLease,
    retryAfterMs: number | undefined,
    deadline: number,
  ): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const all = await this.table.readAll(deadline);
      const now = this.clock.now();
      const inUse = all.leases.filter((l) => l.expiresAt > now).length + 1;
      const call = { inUse, acquiredAt: own.acquiredAt, probe: own.probe, retryAfterMs };
      const change = afterRateLimited(all.rate, call, this.policy, now);
      if (!(await this.table.recordRateLimited(all, change, deadline))) continue;
      if (this.pacing.paced) await this.table.pushClock(change.cooldownUntil, deadline);
      if (change.closeProbe) await this.table.closeProbe(own.id, deadline);
      return;
    }
  }

  private async afterFailure(own: DynamoLease, deadline: number, reason?: string): Promise<void> {
    const { rate } = await this.table.recordFailure(deadline);
    if (opensCircuit(rate.breaker, rate.consecutiveFailures, own.probe, this.policy))
      await this.table.openCircuit(own.probe ? own.id : undefined, deadline, reason);
  }
}

/** The lease of attempt `a`, granted at `now` with `ticket` (if paced), as the control fields read `rate`. */
export function leaseOf(a: Attempt, rate: RateState, ticket: Ticket | undefined, now: number): DynamoLease {
  const end = ticket ? ticket.start + ticket.costMs : undefined;
  return {
    id: a.id,
    waitedMs: Math.round(a.queuedMs),
    limiterMs: Math.max(0, now - a.started - Math.round(a.queuedMs)),
    slot: a.slot as number,
    acquiredAt: a.acquiredAt,
    ticket,
    probe: a.probe,
    atCeiling: a.atCeiling,
    seenCeiling: rate.ceiling,
    seenFailures: rate.consecutiveFailures,
    refundFrom: end !== undefined && rate.tat === end ? end : undefined,
  };
}
