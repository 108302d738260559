/**
 * The cloud's bounds on a stage's fan-out: a Map never runs wider than the provider key's free
 * slots (a Lambda waiting for a slot is billed for waiting) nor the sub-agent function's reserved
 * concurrency (wider only queues invocations behind throttles), and the sub-agents stop before the
 * execution's timeout leaves Aggregate too little time.
 */
import type { CloudBounds } from '#shared/config';
import type { WidthBound } from '#shared/ports/job-store';

/** What tells the free slots of the provider key (the shared limiter). */
export interface SlotCounter {
  freeSlots(): Promise<number>;
}

/** What the bounds need. */
export interface FanOutBoundsDeps {
  /** The shared limiter; without it (switched off) the width is not bound by slots. */
  slots?: SlotCounter;
  config: { cloud?: CloudBounds };
}

/** Time kept for Aggregate (its timeout) and the final writes before the execution's timeout. */
export const AGGREGATE_RESERVE_MS = 5 * 60_000;

/**
 * The width a stage may run at: the asked width, at most the free slots (never below one) and the
 * reserved concurrency; `boundBy` names what lowered it.
 *
 * @example
 * await boundWidth({ slots: limiter, config }, 100); // { width: 90, boundBy: 'free-slots' } with 90 free
 */
export async function boundWidth(
  deps: FanOutBoundsDeps,
  asked: number,
): Promise<{ width: number; boundBy?: WidthBound }> {
  let width = Math.max(1, asked);
  let boundBy: WidthBound | undefined;
  const reserved = deps.config.cloud?.subagentConcurrency;
  if (reserved !== undefined && reserved < width) {
    width = Math.max(1, reserved);
    boundBy = 'reserved-concurrency';
  }
  if (deps.slots) {
    const free = Math.max(1, await deps.slots.freeSlots());
    if (free < width) {
      width = free;
      boundBy = 'free-slots';
    }
  }
  return boundBy ? { width, boundBy } : { width };
}

/**
 * The job's deadline for its sub-agents: the execution's timeout after the job was accepted, less
 * {@link AGGREGATE_RESERVE_MS}; undefined without a configured timeout (locally).
 */
export function jobDeadline(config: { cloud?: CloudBounds }, acceptedAt: string): string | undefined {
  const timeout = config.cloud?.executionTimeoutMs;
  if (timeout === undefined) return undefined;
  return new Date(Date.parse(acceptedAt) + timeout - AGGREGATE_RESERVE_MS).toISOString();
}
