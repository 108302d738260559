import { describe, expect, it } from 'vitest';
import { computeJobMetrics, NO_MODEL_ANSWER } from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';

const step = (agentId: string, status: StepRecord['status']): StepRecord => ({
  stage: 1,
  role: 'sub',
  agentId,
  step: 1,
  startedAt: '2026-12-02T12:00:00.000Z',
  endedAt: '2026-12-02T12:00:01.000Z',
  durationMs: 1000,
  inputTokens: status === 'SUCCEEDED' ? 10 : 0,
  outputTokens: status === 'SUCCEEDED' ? 5 : 0,
  cachedInputTokens: 0,
  status,
  attempt: 1,
});

const base = {
  spawned: 3,
  completed: 0,
  correct: 0,
  scored: 3,
  acceptedAt: '2026-12-02T12:00:00.000Z',
  finishedAt: '2026-12-02T12:00:02.000Z',
  mode: 'parl' as const,
  subtasks: 3,
};

describe('a job whose model calls all failed', () => {
  it('has no reward, r_perf or flags, and says why', () => {
    // Act
    const m = computeJobMetrics({ ...base, steps: ['a', 'b', 'c'].map((id) => step(id, 'FAILED')) });
    // Assess
    expect(m).toMatchObject({ reward: null, rPerf: null, unscoredReason: NO_MODEL_ANSWER });
    expect(m.flags).toBeUndefined();
  });

  it('is scored as soon as one call succeeded', () => {
    const m = computeJobMetrics({ ...base, steps: [step('a', 'FAILED'), step('b', 'SUCCEEDED')] });
    expect(m.reward).not.toBeNull();
    expect(m.unscoredReason).toBeUndefined();
    expect(m.flags).toBeDefined();
  });
});
