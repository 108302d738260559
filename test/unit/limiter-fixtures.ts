import { initialRateState, type RateState, type SlotLease } from '#shared/domain/limiter-rules';
import type { LimiterPolicy, ProviderLimits } from '#shared/domain/provider-limits';

/** A limiter policy of 4 slots, a quarter kept for the orchestrator, with `over` and `rest` laid on. */
export const policy = (
  over: Partial<ProviderLimits> = {},
  rest: Partial<LimiterPolicy> = {},
): LimiterPolicy => ({
  limits: { maxConcurrency: 4, rpm: undefined, tpm: undefined, windowMs: 60_000, ...over },
  orchestratorShare: 0.25,
  leaseMs: 10_000,
  cooldownMs: 1_000,
  breakerFailures: 3,
  breakerOpenMs: 5_000,
  ...rest,
});

/** A key's rate state as a fresh key under `p` has it, with `over` laid on. */
export const rate = (p: LimiterPolicy, over: Partial<RateState> = {}): RateState => ({
  ...initialRateState(p.limits),
  ...over,
});

let n = 0;
/** A sub-agent's lease of `slot` (a new id each time), taken at 0 and ending at 10 s. */
export const lease = (slot: number, over: Partial<SlotLease> = {}): SlotLease => ({
  slot,
  id: `l${++n}`,
  role: 'subagent',
  tenantId: 't1',
  acquiredAt: 0,
  expiresAt: 10_000,
  ...over,
});

/** The most events in any window of `windowMs` (weights add up; a count gives each a weight of 1). */
export function maxPerWindow(events: readonly { at: number; weight: number }[], windowMs: number): number {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  let best = 0;
  let sum = 0;
  let lo = 0;
  for (const e of sorted) {
    sum += e.weight;
    while (sorted[lo]!.at <= e.at - windowMs) sum -= sorted[lo++]!.weight;
    best = Math.max(best, sum);
  }
  return best;
}
