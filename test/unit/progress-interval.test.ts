import { describe, expect, it } from 'vitest';
import { MAX_PROGRESS_INTERVAL_MS, progressIntervalMs } from '#local/progress-interval';

describe('progressIntervalMs (how often parl run counts finished sub-agents)', () => {
  it.each([
    [0, 250, 250],
    [100, 250, 250],
    [1_250, 250, 250],
    [1_251, 250, 250],
    [5_000, 250, 1_000],
    [10_000, 250, 2_000],
    [50_000, 250, 10_000],
    [200_000, 250, 10_000],
  ])('%i agents, asked every %i ms: every %i ms', (agents, base, expected) => {
    // Act / Assess: 0.2 ms an agent, at least what the caller asked, at most 10 s
    expect(progressIntervalMs(agents, base)).toBe(expected);
  });

  it('keeps a caller interval longer than the width would give', () => {
    // Act / Assess
    expect(progressIntervalMs(50_000, 30_000)).toBe(30_000);
    expect(progressIntervalMs(10_000, MAX_PROGRESS_INTERVAL_MS)).toBe(MAX_PROGRESS_INTERVAL_MS);
  });
});
