import { describe, expect, it } from 'vitest';
import {
  HISTORY_EVENT_LIMIT,
  INLINE_MAP_MAX_CONCURRENCY,
  INLINE_MAP_MAX_ITEMS,
  inlineHistoryWorstCase,
  MAX_JOB_STAGES,
  MAX_SUBAGENTS_PER_JOB,
  mapModeFor,
} from '#shared/domain/fan-out-limits';
import { REQUEST_LIMITS } from '#shared/domain/request';

describe('the fan-out limits', () => {
  it.each([
    [1, 1, 'INLINE'],
    [INLINE_MAP_MAX_CONCURRENCY, INLINE_MAP_MAX_ITEMS, 'INLINE'],
    [INLINE_MAP_MAX_CONCURRENCY + 1, 2, 'DISTRIBUTED'],
    [1, INLINE_MAP_MAX_ITEMS + 1, 'DISTRIBUTED'],
    [1000, MAX_SUBAGENTS_PER_JOB, 'DISTRIBUTED'],
  ] as const)('runs %i at once over %i items in the %s Map', (width, items, mode) => {
    expect(mapModeFor(width, items)).toBe(mode);
  });

  it('keeps the worst inline job (every stage at the inline limit, every sub-agent failing) far from the history limit', () => {
    expect(inlineHistoryWorstCase(INLINE_MAP_MAX_ITEMS, MAX_JOB_STAGES)).toBeLessThanOrEqual(
      0.9 * HISTORY_EVENT_LIMIT,
    );
    // …where 1,000 items (the former bound) would pass it within two stages
    expect(inlineHistoryWorstCase(1000, 2)).toBeGreaterThan(HISTORY_EVENT_LIMIT);
  });

  it('lets a request carry one subtask per sub-agent up to the most a job may have', () => {
    expect(REQUEST_LIMITS.subtasks).toBe(MAX_SUBAGENTS_PER_JOB);
    expect(REQUEST_LIMITS.maxStages).toBe(MAX_JOB_STAGES);
  });
});
