import { deadlineErrorOf } from '#shared/domain/deadline';
import {
  CircuitOpenError,
  DeadlineReachedError,
  LimiterTimeoutError,
  ProviderRejectedError,
  RateLimitedError,
  TransientError,
} from '#shared/domain/errors';
import { backoffMs, type CallOutcome, estimateTokens } from '#shared/domain/provider-limits';
import type { CallStats, ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';
import type { LimiterLease, RateLimiter } from '#shared/ports/rate-limiter';

/** The one retry layer of model calls. */
export interface RetryPolicy {
  /** Retries after 5xx, timeouts and malformed bodies. */
  maxRetries: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  /** 429s are retried (paced by the limiter's cooldown) until this much time has passed. */
  maxWaitMs: number;
}

/** What a call that did not come through ran into. */
export function outcomeOf(error: unknown): CallOutcome {
  if (error instanceof RateLimitedError)
    return {
      kind: 'rate-limited',
      ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
    };
  if (error instanceof ProviderRejectedError) return { kind: 'rejected' };
  return { kind: 'failure', reason: error instanceof Error ? error.message : String(error) };
}

/**
 * Wraps an LLM client with the shared limiter and the retries: every attempt takes a lease
 * (waiting for concurrency, RPM, TPM, cooldown and the circuit breaker), gives it back with the
 * outcome (after a success while the answer goes on to the caller: the response's `settling`),
 * and is retried here only — 429s after the shared cooldown plus a full-jitter pause,
 * 5xx/timeouts/malformed bodies with capped exponential backoff and full jitter (never less than
 * Retry-After). 400/401/403/404 fail at once. The response (or the final error, as `callStats`)
 * says how many calls it took.
 *
 * @example
 * const llm = new LimitedLlm(new OpenAiLlm(client, 'kimi-k2.5'), limiter, retry);
 * await llm.chat({ messages, caller: { role: 'subagent', tenantId } });
 */
export class LimitedLlm implements LlmClient {
  /** A request's `ready` is awaited here, once its slot is granted: the two round trips overlap. */
  readonly waitsForReady = true;

  constructor(
    private readonly inner: LlmClient,
    private readonly limiter: RateLimiter | undefined,
    private readonly retry: RetryPolicy,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    private readonly random: () => number = Math.random,
  ) {}

  get model(): string {
    return this.inner.model;
  }

  /**
   * A release after a successful call, off the caller's path: the response's `settling`, which
   * never rejects. One that fails leaves its lease to expire on its own (the limiter's lease time),
   * as a crashed caller's does: the call's answer is good either way.
   */
  private releaseLater(release: Promise<void>): Promise<void> {
    return release.catch(() => undefined);
  }

  async chat(request: ChatRequest): Promise<ChatResponse> {
    const caller = request.caller ?? { role: 'subagent' as const, tenantId: 'unknown' };
    const { caller: _caller, ready, reserved: _reserved, ...providerRequest } = request;
    const { deadline } = request;
    const promptChars =
      JSON.stringify(request.messages).length + (request.tools ? JSON.stringify(request.tools).length : 0);
    const estimatedTokens = estimateTokens(promptChars, request.maxTokens);
    const stats: CallStats = { calls: 0, rateLimited: 0, waitedMs: 0, circuitOpen: 0 };
    const started = Date.now();
    let failures = 0;
    // A lease taken ahead goes to the first attempt only; the attempt count decides it is ours first.
    let reserved = this.limiter && request.reserved ? await request.reserved : undefined;
    for (;;) {
      let lease: LimiterLease | undefined;
      try {
        if (deadline?.signal.aborted) {
          // A lease taken ahead and not used goes back: it is this caller's, so a neutral release.
          if (reserved) await this.limiter?.release(reserved, { kind: 'rejected' }).catch(() => undefined);
          reserved = undefined;
          throw deadlineErrorOf(deadline.signal, deadline.notAfter);
        }
        const ahead = reserved;
        reserved = undefined;
        lease = await this.limiter?.acquire({
          ...caller,
          estimatedTokens,
          ...(deadline ? { notAfter: deadline.notAfter } : {}),
          ...(ahead ? { reserved: ahead } : {}),
        });
      } catch (error) {
        if (deadline && this.stoppedByDeadline(error, deadline, started))
          throw Object.assign(deadlineErrorOf(deadline.signal, deadline.notAfter), {
            callStats: { ...stats },
          });
        // An open circuit costs a retry but no call; anything else from the limiter ends the call.
        if (error instanceof CircuitOpenError) stats.circuitOpen = (stats.circuitOpen ?? 0) + 1;
        if (!(error instanceof CircuitOpenError) || failures >= this.retry.maxRetries)
          throw Object.assign(error as Error, { callStats: { ...stats } });
        failures += 1;
        const pause = this.backoff(failures);
        stats.waitedMs += pause;
        await this.sleep(pause);
        continue;
      }
      stats.waitedMs += lease?.waitedMs ?? 0;
      if (lease) stats.limiterMs = (stats.limiterMs ?? 0) + lease.limiterMs;
      if (ready) await this.untilReady(ready, lease, stats);
      stats.calls += 1;
      try {
        const response = await this.inner.chat(providerRequest);
        if (lease && this.limiter) {
          const tokens = response.usage.inputTokens + response.usage.outputTokens;
          // The answer goes back now; the release (a round trip or two) goes on meanwhile.
          const settling = this.releaseLater(this.limiter.release(lease, { kind: 'success', tokens }));
          return { ...response, callStats: { ...stats }, settling };
        }
        return { ...response, callStats: { ...stats } };
      } catch (error) {
        // A call the caller's deadline aborted says nothing about the provider: a neutral release.
        const outcome =
          error instanceof DeadlineReachedError ? ({ kind: 'rejected' } as const) : outcomeOf(error);
        if (lease) await this.limiter?.release(lease, outcome);
        const give = () => Object.assign(error as Error, { callStats: { ...stats } });
        if (!(error instanceof TransientError)) throw give();
        if (deadline?.signal.aborted) throw give();
        let pause: number;
        if (error instanceof RateLimitedError) {
          stats.rateLimited += 1;
          if (Date.now() - started >= this.retry.maxWaitMs) throw give();
          // With a limiter the shared cooldown already honours Retry-After; the jitter spreads callers.
          pause = this.backoff(stats.rateLimited, this.limiter ? undefined : error.retryAfterMs);
        } else {
          failures += 1;
          if (failures > this.retry.maxRetries) throw give();
          pause = this.backoff(failures);
        }
        stats.waitedMs += pause;
        await this.sleep(pause);
      }
    }
  }

  /**
   * Waits for the request's `ready` with its slot held, the wait counted as the limiter's time (it is
   * not the model's). A `ready` that rejects gives the slot back unused (a neutral outcome: the
   * provider saw nothing) and ends the call with its error.
   */
  private async untilReady(ready: Promise<unknown>, lease: LimiterLease | undefined, stats: CallStats) {
    const from = Date.now();
    const waited = () => {
      stats.limiterMs = (stats.limiterMs ?? 0) + (Date.now() - from);
    };
    try {
      await ready;
    } catch (error) {
      waited();
      if (lease) await this.limiter?.release(lease, { kind: 'rejected' });
      throw Object.assign(error as Error, { callStats: { ...stats } });
    }
    waited();
  }

  /** The pause before retry number `attempt`: jittered exponential, at least `retryAfterMs`. */
  private backoff(attempt: number, retryAfterMs?: number): number {
    return backoffMs(
      attempt,
      { baseMs: this.retry.backoffBaseMs, capMs: this.retry.backoffCapMs, retryAfterMs },
      this.random,
    );
  }

  /** Whether the limiter gave up because the caller's deadline came before its maximum wait. */
  private stoppedByDeadline(
    error: unknown,
    deadline: NonNullable<ChatRequest['deadline']>,
    started: number,
  ): boolean {
    if (error instanceof DeadlineReachedError) return true;
    return error instanceof LimiterTimeoutError && deadline.notAfter < started + this.retry.maxWaitMs;
  }
}
