/**
 * How wide one job may fan out, and which Map runs it. Sub-agent outcomes live in DynamoDB and the
 * Maps return nothing (ResultPath null), so neither the 256 KiB state payload nor the Map's result
 * bounds the number of sub-agents; what is left is the inline Map's share of the execution's
 * history (25,000 events) and its 40 concurrent iterations. Above either, the Distributed Map runs
 * every item as a child execution with its own history.
 */

/** Step Functions' history limit of one execution (events). */
export const HISTORY_EVENT_LIMIT = 25_000;

/** Step Functions runs at most 40 inline Map iterations at once; wider stages run distributed. */
export const INLINE_MAP_MAX_CONCURRENCY = 40;

/**
 * The most events one inline Map item writes into the parent's history, in the worst case: a
 * sub-agent that fails after a Lambda service retry (iteration started; RunSubagent entered,
 * scheduled, started, failed, scheduled, started, failed = 7) whose failure is recorded by a task
 * that is retried once too (entered, scheduled, started, failed, scheduled, started, succeeded,
 * exited = 8), and the iteration's end: 17. A sub-agent that succeeds writes 6.
 */
export const INLINE_EVENTS_PER_ITEM_WORST = 17;

/** The most stages one job runs (each stage is a Map in the same execution). */
export const MAX_JOB_STAGES = 5;

/**
 * The most items an inline Map takes: a job whose every stage is that wide and whose every
 * sub-agent fails the worst way stays at 85 % of the history limit
 * (250 × 17 × 5 = 21,250 events, plus a handful for Plan, Aggregate and the choices).
 */
export const INLINE_MAP_MAX_ITEMS = 250;

/** The most sub-agents one job may have (one a subtask), and so the most subtasks a request may carry. */
export const MAX_SUBAGENTS_PER_JOB = 50_000;

/** The service's default cap on the sub-agents a request may ask for at once (PARL_MAX_SUBAGENTS_CAP). */
export const DEFAULT_MAX_SUBAGENTS_CAP = 1_000;

/** The Map a stage runs in. */
export type MapMode = 'INLINE' | 'DISTRIBUTED';

/**
 * The Map mode of a stage: inline while it runs at most {@link INLINE_MAP_MAX_CONCURRENCY} at once
 * and has at most {@link INLINE_MAP_MAX_ITEMS} items; distributed above either.
 *
 * @example
 * mapModeFor(40, 250); // 'INLINE'
 * mapModeFor(40, 251); // 'DISTRIBUTED'
 */
export function mapModeFor(maxConcurrency: number, items: number): MapMode {
  return maxConcurrency > INLINE_MAP_MAX_CONCURRENCY || items > INLINE_MAP_MAX_ITEMS
    ? 'DISTRIBUTED'
    : 'INLINE';
}

/** The worst-case history events of a job whose `stages` stages are inline Maps of `items` items each. */
export function inlineHistoryWorstCase(items: number, stages = MAX_JOB_STAGES): number {
  return items * INLINE_EVENTS_PER_ITEM_WORST * stages;
}
