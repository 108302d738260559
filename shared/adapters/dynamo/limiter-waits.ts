import type { DenyReason } from '#shared/domain/provider-limits';
import { timeout } from './limiter-errors';
import type { LimiterClock } from './limiter-items';
import type { Attempt } from './limiter-outcomes';

/** The longest pause between two looks at the slots while waiting for one. */
const BACKOFF_CAP_MS = 2_000;

/**
 * How the DynamoDB limiter's callers wait: sleeps that count what was queued, a cooldown's known
 * pause, and the jittered backoff for a slot, which a release in this process ends early
 * ({@link wakeAll}).
 */
export class LimiterWaits {
  private readonly wakers = new Set<AbortController>();

  constructor(
    private readonly clock: LimiterClock,
    private readonly random: () => number,
    private readonly pollMs: number,
    private readonly maxWaitMs: number,
  ) {}

  /** Ends every backoff of this process now (a slot was given back). */
  wakeAll(): void {
    for (const waker of [...this.wakers]) waker.abort();
  }

  /** Sleeps; queued (`waitedMs`): what it slept after `queuedFrom` (an idle ticket's start), at most `ms`. */
  async sleep(
    a: Attempt,
    ms: number,
    queuedFrom = Number.NEGATIVE_INFINITY,
    signal?: AbortSignal,
  ): Promise<void> {
    // Nothing to wait for: no timer (a timer is a turn of the event loop, 1 ms at least, per call).
    if (ms <= 0) return;
    const from = this.clock.now();
    await this.clock.sleep(ms, signal);
    const to = Math.min(this.clock.now(), from + Math.max(0, ms));
    a.queuedMs += Math.max(0, to - Math.max(from, queuedFrom));
  }

  /** Waits a known time (a cooldown); gives up at once if it ends past the deadline. */
  async pauseFor(a: Attempt, reason: DenyReason, ms: number): Promise<void> {
    a.reason = reason;
    if (this.clock.now() + ms > a.deadline) throw timeout(a, this.maxWaitMs);
    await this.sleep(a, ms);
  }

  /** Waits for a slot: from `pollMs`, doubling up to 2 s, jittered; a local release ends it early. */
  async backoff(a: Attempt, round: number): Promise<void> {
    const now = this.clock.now();
    if (now >= a.deadline) throw timeout(a, this.maxWaitMs);
    const ms = Math.min(BACKOFF_CAP_MS, this.pollMs * 2 ** round) * (0.5 + this.random() / 2);
    const waker = new AbortController();
    this.wakers.add(waker);
    try {
      await this.sleep(a, Math.min(ms, a.deadline - now), undefined, waker.signal);
    } finally {
      this.wakers.delete(waker);
    }
  }
}
