/**
 * The provider's limits (Moonshot's tiers, each provider's defaults), the limiter's policy beyond
 * them (orchestrator share, lease expiry, cooldown, breaker) and the client's backoff. The shared
 * limiter's own rules (tickets, slots, control fields) are in `limiter-rules.ts`.
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
/** The adaptive ceiling falls to this fraction of the concurrency in use when the provider answers 429. */
export const AIMD_DECREASE = 0.7;

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Why a caller waits (or, past the maximum wait, gave up). */
export type DenyReason =
  | 'circuit-open'
  | 'probing'
  | 'cooldown'
  | 'orchestrator-priority'
  | 'concurrency'
  | 'fair-share'
  | 'rpm'
  | 'tpm'
  /** The limiter's table throttled its requests (a wait, never a failure). */
  | 'throttled';

/** The usable concurrency: the adaptive ceiling, within [1, maxConcurrency]. */
export function usableConcurrency(ceiling: number, limits: ProviderLimits): number {
  return Math.max(1, Math.min(limits.maxConcurrency, Math.floor(ceiling)));
}

/** Slots sub-agents may not take: a share of the usable concurrency (at least one), none when there is one slot. */
export function reservedForOrchestrator(usable: number, share: number): number {
  return usable >= 2 && share > 0 ? Math.max(1, Math.floor(usable * share)) : 0;
}

/** How a call under a lease ended. */
export type CallOutcome =
  | { kind: 'success'; tokens: number }
  /** 429: the provider's limit was hit anyway. */
  | { kind: 'rate-limited'; retryAfterMs?: number }
  /** 5xx, timeout, lost connection, malformed body: counts toward the circuit breaker. */
  | { kind: 'failure'; reason?: string }
  /** 400/401/403/404: the provider works, the request is refused. */
  | { kind: 'rejected' };

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
