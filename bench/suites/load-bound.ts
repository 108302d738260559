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

/** Where a load job's wall-clock went, from its stored step records (ms, on the steps' clock). */
export interface LoadPhases {
  /** Accepted → the first sub-agent's model call started (planning, the Map, the first sub-agent's reads). */
  toFirstCallMs: number;
  /** First → last sub-agent's model call started: how long the last one waited behind the others. */
  callStartSpreadMs: number;
  /** The last sub-agent call ended → the synthesizer's call started (Map end, aggregation's reads). */
  toSynthesisMs: number;
  /** The synthesizer's call ended → the job's result stored. */
  afterSynthesisMs: number;
}

type PhaseStep = { role: string; step: number; startedAt: string; endedAt: string };

/**
 * The phases of a one-stage load job (sub-agents, then one synthesizer call): each sub-agent's
 * first call start, the last sub-agent call's end, the synthesizer's call. Undefined without
 * sub-agent steps, a synthesizer step after them, or a finish time.
 */
export function phasesOf(
  job: { acceptedAt: string; finishedAt?: string },
  steps: readonly PhaseStep[],
): LoadPhases | undefined {
  const at = (iso: string) => Date.parse(iso);
  const sub = steps.filter((s) => s.role === 'sub');
  const firstCalls = sub.filter((s) => s.step === 1).map((s) => at(s.startedAt));
  // reduce, not Math.max(...xs): a 50,000-sub-agent job's steps are too many arguments for one call.
  const subEnd = sub.reduce((m, s) => Math.max(m, at(s.endedAt)), Number.NEGATIVE_INFINITY);
  const synthesis = steps
    .filter((s) => s.role === 'main' && at(s.startedAt) >= subEnd)
    .sort((a, b) => at(a.startedAt) - at(b.startedAt))[0];
  if (firstCalls.length === 0 || !synthesis || !job.finishedAt) return undefined;
  const firstCall = firstCalls.reduce((m, t) => Math.min(m, t));
  return {
    toFirstCallMs: firstCall - at(job.acceptedAt),
    callStartSpreadMs: firstCalls.reduce((m, t) => Math.max(m, t)) - firstCall,
    toSynthesisMs: at(synthesis.startedAt) - subEnd,
    afterSynthesisMs: at(job.finishedAt) - at(synthesis.endedAt),
  };
}
