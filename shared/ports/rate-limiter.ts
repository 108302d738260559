import type { LimiterState } from '#shared/domain/limiter-rules';
import type { CallerRole, CallOutcome, ProviderLimits } from '#shared/domain/provider-limits';

/** Who asks for a provider call, and how many tokens it will probably use. */
export interface AcquireOptions {
  role: CallerRole;
  tenantId: string;
  estimatedTokens: number;
  /** Give up waiting at this time (ms since the epoch) if it comes before the maximum wait. */
  notAfter?: number;
  /**
   * A lease taken ahead for this caller ({@link LeaseReserver.reserve}): granted as it is while it
   * is still good (no round trip), else given back and a new one taken.
   */
  reserved?: ReservedLease;
}

/** The right to make one call; give it back with {@link RateLimiter.release}. */
export interface LimiterLease {
  readonly id: string;
  /**
   * Milliseconds queued for it: for a slot, a rate window (the ticket's start) or a cooldown.
   * 0 when a slot was free and the rate allowed the call at once.
   */
  readonly waitedMs: number;
  /** Milliseconds of the limiter's own round trips (reading and writing its items) to grant it. */
  readonly limiterMs: number;
}

/** A lease taken ahead for a caller that is not running yet: plain JSON, it travels in a Map's item. */
export type ReservedLease = LimiterLease & Readonly<Record<string, unknown>>;

/**
 * Leases taken ahead, together, for callers that start together (a Map's sub-agents, by its plan):
 * each goes to one caller, whose first call passes it to {@link RateLimiter.acquire} as `reserved`.
 */
export interface LeaseReserver {
  /**
   * Up to `count` leases for callers like `options`, taken at once; fewer (none) when the key
   * cannot grant them within `withinMs` (its slots taken, its rate queued, its circuit open).
   */
  reserve(options: AcquireOptions, count: number, withinMs: number): Promise<ReservedLease[]>;
  /** Gives back a reserved lease its caller will not use (a no-op once it expired or was taken over). */
  unreserve(lease: ReservedLease): Promise<void>;
}

/**
 * The limits of one provider key, shared by every caller of every job (concurrency, RPM, TPM, a
 * cooldown after 429s, an adaptive ceiling, a circuit breaker).
 *
 * @example
 * const lease = await limiter.acquire({ role: 'subagent', tenantId, estimatedTokens: 1200 });
 * try { … one call …; await limiter.release(lease, { kind: 'success', tokens: 1100 }); }
 * catch { await limiter.release(lease, { kind: 'failure' }); }
 */
export interface RateLimiter {
  /** Waits until a call may start; throws LimiterTimeoutError after the configured maximum wait. */
  acquire(options: AcquireOptions): Promise<LimiterLease>;
  /** Frees the lease and tells the limiter how the call went. */
  release(lease: LimiterLease, outcome: CallOutcome): Promise<void>;
  /**
   * How many more sub-agent calls the key's concurrency takes right now (its usable slots, less the
   * orchestrators' reserve and the leases held): a Map wider than this only makes Lambdas wait.
   */
  freeSlots(): Promise<number>;
  /** The current shared state (for reports and tests). */
  snapshot(): Promise<{ limits: ProviderLimits; state: LimiterState }>;
}
