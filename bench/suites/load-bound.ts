/**
 * The schedule bound of a load job from the simulator's modelled latencies of its calls, in the
 * order the simulator answered them: one call per sub-agent, all at once (the provider's limits do
 * not bind here), then the synthesizer's, which starts after every sub-agent has ended and so is
 * the last. Undefined when there is nothing to bound (latency ×0, or no calls).
 */
export function boundOf(
  modelledMs: readonly number[],
  wallClockMs: number,
): { boundMs?: number; overBound?: number } {
  if (modelledMs.length < 2) return {};
  const synthesizer = modelledMs.at(-1) ?? 0;
  const slowest = modelledMs.slice(0, -1).reduce((a, b) => Math.max(a, b), 0);
  const boundMs = Math.round(slowest + synthesizer);
  return boundMs > 0 ? { boundMs, overBound: wallClockMs / boundMs } : {};
}
