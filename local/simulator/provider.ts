/**
 * How the simulator plays a provider's limits and misbehaviour: concurrency, RPM and TPM enforced
 * over a sliding window with Moonshot's 429 bodies (Retry-After sometimes sent, sometimes not), and
 * faults at configured rates (5xx, slow answers, hangs past the client's timeout, truncated or
 * non-JSON bodies). Every choice is deterministic in (seed, request number).
 */
import { hashUnit } from './wire';

/** Limits the simulator enforces, as Moonshot does per account. */
export interface SimulatedLimits {
  maxConcurrency?: number;
  rpm?: number;
  tpm?: number;
  /** The "minute" (default 60000); shorter to compress time in tests and benches. */
  windowMs?: number;
  /** Whether a 429 carries `Retry-After` (default `sometimes`: every other one). */
  retryAfter?: 'always' | 'never' | 'sometimes';
}

/** Fault rates, each a share of chat requests in 0..1 (drawn in this order, one fault at most). */
export interface ChaosOptions {
  /** 500/502/503 with `engine_overloaded_error`. */
  serverErrorRate?: number;
  /** No answer at all until the client gives up (or `hangMs` passes). */
  timeoutRate?: number;
  hangMs?: number;
  /** The answer comes `slowMs` late (below the client's timeout). */
  slowRate?: number;
  slowMs?: number;
  /** 200 whose JSON body breaks off mid-way (the connection closes). */
  truncatedRate?: number;
  /** 200 with an HTML body, as a misbehaving proxy sends. */
  nonJsonRate?: number;
}

export type ChaosFault = 'server-error' | 'timeout' | 'slow' | 'truncated' | 'non-json';

/** Picks the fault of request number `n`, or undefined. */
export function pickChaos(chaos: ChaosOptions, seed: number, n: number): ChaosFault | undefined {
  const u = hashUnit(seed, 'chaos', n);
  const order: [ChaosFault, number | undefined][] = [
    ['server-error', chaos.serverErrorRate],
    ['timeout', chaos.timeoutRate],
    ['slow', chaos.slowRate],
    ['truncated', chaos.truncatedRate],
    ['non-json', chaos.nonJsonRate],
  ];
  let edge = 0;
  for (const [fault, rate] of order) {
    edge += Math.max(0, rate ?? 0);
    if (u < edge) return fault;
  }
  return undefined;
}

/** A 429 the gate answers with. */
export interface Rejection {
  status: 429;
  body: { error: { message: string; type: 'rate_limit_reached_error' } };
  headers: Record<string, string>;
  limit: 'concurrency' | 'rpm' | 'tpm';
}

/** A request the gate let through, counted in the window until it leaves it. */
export interface Admitted {
  at: number;
  tokens: number;
  /** Out of the window: its completion no longer counts toward TPM. */
  expired?: boolean;
}

/** What the gate saw. */
export interface GateStats {
  rateLimited: number;
  rateLimitedBy: { concurrency: number; rpm: number; tpm: number };
  admitted: number;
  admittedInFlight: number;
  maxAdmittedInFlight: number;
  /** Time-weighted mean of admitted requests in flight, from the first admission to the last change. */
  meanAdmittedInFlight: number;
  /** The most requests admitted within any one window (sliding). */
  maxRequestsPerWindow: number;
  windowMs: number;
  firstAdmittedAt: number | undefined;
  lastAdmittedAt: number | undefined;
}

/**
 * Admits or refuses chat requests by the configured limits. RPM and TPM are counted over a
 * sliding window of admitted requests (refused ones do not count), TPM by the prompt at admission
 * plus the completion once answered.
 */
export class ProviderGate {
  private limits: SimulatedLimits = {};
  /** Admitted requests in admission order; those before `head` have left the window. */
  private log: Admitted[] = [];
  private head = 0;
  /** The tokens of the requests in the window (log[head..]). */
  private windowTokens = 0;
  private allTimes: number[] = [];
  private inFlight = 0;
  private maxInFlight = 0;
  private rejections = 0;
  private by = { concurrency: 0, rpm: 0, tpm: 0 };
  private area = 0;
  private lastChange: number | undefined;
  private firstAt: number | undefined;

  constructor(limits: SimulatedLimits = {}) {
    this.setLimits(limits);
  }

  setLimits(limits: SimulatedLimits): void {
    this.limits = { ...limits };
  }

  get windowMs(): number {
    return this.limits.windowMs ?? 60_000;
  }

  /** Admits a request (then call `done`), or returns the 429 to answer with. */
  admit(
    now: number,
    promptTokens: number,
  ): { ok: true; entry: Admitted } | { ok: false; rejection: Rejection } {
    const windowMs = this.windowMs;
    this.expire(now - windowMs);
    const inWindow = this.log.length - this.head;
    const { maxConcurrency, rpm, tpm } = this.limits;
    let limit: Rejection['limit'] | undefined;
    // A slot frees within about a call's time; scaled with a compressed window.
    let waitMs = Math.min(1000, windowMs / 60);
    if (maxConcurrency !== undefined && this.inFlight >= maxConcurrency) limit = 'concurrency';
    else if (rpm !== undefined && inWindow >= rpm) {
      limit = 'rpm';
      waitMs = (this.log[this.head]?.at ?? now) + windowMs - now;
    } else if (tpm !== undefined && this.windowTokens + promptTokens > tpm) {
      limit = 'tpm';
      waitMs = (this.log[this.head]?.at ?? now) + windowMs - now;
    }
    if (limit) {
      this.rejections += 1;
      this.by[limit] += 1;
      return { ok: false, rejection: this.rejection(limit, waitMs) };
    }
    const entry = { at: now, tokens: promptTokens };
    this.log.push(entry);
    this.windowTokens += promptTokens;
    this.allTimes.push(now);
    this.firstAt ??= now;
    this.account(now);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return { ok: true, entry };
  }

  /** The admitted request ended; `completionTokens` count toward TPM when it was answered. */
  done(entry: Admitted, completionTokens = 0): void {
    this.account(Date.now());
    this.inFlight -= 1;
    entry.tokens += completionTokens;
    if (!entry.expired) this.windowTokens += completionTokens;
  }

  /**
   * Drops the requests admitted at or before `since` from the window: they were admitted in time
   * order, so from the front (constant time a request, not a pass over the window each time).
   */
  private expire(since: number): void {
    const log = this.log;
    while (this.head < log.length && (log[this.head] as Admitted).at <= since) {
      const gone = log[this.head] as Admitted;
      gone.expired = true;
      this.windowTokens -= gone.tokens;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > log.length) {
      this.log = log.slice(this.head);
      this.head = 0;
    }
  }

  private account(now: number): void {
    if (this.lastChange !== undefined) this.area += this.inFlight * (now - this.lastChange);
    this.lastChange = now;
  }

  private rejection(limit: Rejection['limit'], waitMs: number): Rejection {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    const what =
      limit === 'concurrency'
        ? `max organization concurrency: ${this.limits.maxConcurrency}`
        : limit === 'rpm'
          ? `max RPM: ${this.limits.rpm}`
          : `max TPM: ${this.limits.tpm}`;
    const mode = this.limits.retryAfter ?? 'sometimes';
    const send = mode === 'always' || (mode === 'sometimes' && this.rejections % 2 === 1);
    return {
      status: 429,
      limit,
      body: {
        error: {
          message: `Your account simulator request reached organization ${what}, please try again after ${seconds} seconds`,
          type: 'rate_limit_reached_error',
        },
      },
      // `retry-after` in whole seconds as Moonshot sends it; `retry-after-ms` keeps a compressed window exact.
      headers: send
        ? { 'retry-after': String(seconds), 'retry-after-ms': String(Math.max(1, Math.round(waitMs))) }
        : {},
    };
  }

  stats(): GateStats {
    const times = this.allTimes;
    let best = 0;
    for (let i = 0, j = 0; j < times.length; j++) {
      while ((times[j] as number) - (times[i] as number) >= this.windowMs) i++;
      best = Math.max(best, j - i + 1);
    }
    return {
      rateLimited: this.rejections,
      rateLimitedBy: { ...this.by },
      admitted: times.length,
      admittedInFlight: this.inFlight,
      maxAdmittedInFlight: this.maxInFlight,
      meanAdmittedInFlight:
        this.firstAt !== undefined && this.lastChange !== undefined && this.lastChange > this.firstAt
          ? this.area / (this.lastChange - this.firstAt)
          : 0,
      maxRequestsPerWindow: best,
      windowMs: this.windowMs,
      firstAdmittedAt: times[0],
      lastAdmittedAt: times.at(-1),
    };
  }

  resetStats(): void {
    this.allTimes = [];
    this.rejections = 0;
    this.by = { concurrency: 0, rpm: 0, tpm: 0 };
    this.maxInFlight = this.inFlight;
    this.area = 0;
    this.firstAt = undefined;
    this.lastChange = undefined;
  }
}
