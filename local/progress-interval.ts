/**
 * How often a waiting `parl run` reports a job's progress. Each report counts the stage's finished
 * sub-agents, a COUNT query that reads every agent record of the stage, so one report costs time in
 * proportion to the job's width, and at a fixed 250 ms a 50,000-sub-agent job would spend a large
 * share of the machine counting. The interval grows with the width instead (0.2 ms an agent), which
 * keeps counting a small, steady share of the run: the caller's interval up to 1,250 agents (at
 * 250 ms), 2 s at 10,000, never more than 10 s (50,000).
 */
export const PROGRESS_MS_PER_AGENT = 0.2;
export const MAX_PROGRESS_INTERVAL_MS = 10_000;

/** The pause before the next progress report of a job of `agents` sub-agents, at least `baseMs`. */
export function progressIntervalMs(agents: number, baseMs: number): number {
  const byWidth = Math.min(MAX_PROGRESS_INTERVAL_MS, Math.round(agents * PROGRESS_MS_PER_AGENT));
  return Math.max(baseMs, byWidth);
}
