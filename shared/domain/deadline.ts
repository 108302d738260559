/**
 * Deadlines of a sub-agent: its Lambda's remaining time and its job's deadline. A sub-agent stops
 * {@link SUBAGENT_STOP_MARGIN_MS} before its function's timeout, so it can still record what it has
 * and give its limiter lease back before Lambda kills it.
 */
import { DeadlineReachedError } from './errors';

/** Time kept back before a sub-agent's timeout: writing its results and agent record, releasing its lease. */
export const SUBAGENT_STOP_MARGIN_MS = 15_000;

/**
 * When a sub-agent stops: the earlier of its Lambda's deadline less the margin and its job's
 * deadline; undefined when it has neither (a local run without a context).
 *
 * @example
 * stopTime({ lambdaDeadlineAt: Date.now() + 900_000, marginMs: 15_000 }); // 885 s from now
 */
export function stopTime(d: {
  lambdaDeadlineAt?: number | undefined;
  jobDeadlineAt?: number | undefined;
  marginMs: number;
}): number | undefined {
  const candidates = [
    d.lambdaDeadlineAt === undefined ? undefined : d.lambdaDeadlineAt - d.marginMs,
    d.jobDeadlineAt,
  ].filter((t): t is number => t !== undefined && Number.isFinite(t));
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}

/** The error a call ends with when its deadline's signal was aborted (its reason, when that is one). */
export function deadlineErrorOf(signal: AbortSignal, notAfter: number): DeadlineReachedError {
  return signal.reason instanceof DeadlineReachedError
    ? signal.reason
    : new DeadlineReachedError(`the deadline ${new Date(notAfter).toISOString()} was reached`, notAfter);
}

/** How a sub-agent stopped at its deadline is told (subtask results, the agent record). */
export const DEADLINE_REASON = 'stopped at its deadline';

/** A running deadline: the request part model calls take, and its timer. */
export interface Deadline {
  /** What a model call takes (`ChatRequest.deadline`). */
  readonly request: { signal: AbortSignal; notAfter: number };
  /** Throws the DeadlineReachedError once the deadline has passed. */
  throwIfReached(): void;
  /** Stops the timer (always call it when done). */
  clear(): void;
}

/** Starts a deadline at `at` (ms since the epoch): its signal aborts then, with a DeadlineReachedError. */
export function startDeadline(at: number): Deadline {
  const controller = new AbortController();
  const abort = () =>
    controller.abort(new DeadlineReachedError(`${DEADLINE_REASON} ${new Date(at).toISOString()}`, at));
  const timer = setTimeout(abort, Math.max(0, at - Date.now()));
  return {
    request: { signal: controller.signal, notAfter: at },
    throwIfReached() {
      if (!controller.signal.aborted && Date.now() >= at) abort();
      if (controller.signal.aborted) throw deadlineErrorOf(controller.signal, at);
    },
    clear: () => clearTimeout(timer),
  };
}
