import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  annealWeights,
  compareSteps,
  computeJobMetrics,
  costUsd,
  criticalPathMs,
  criticalSteps,
  DEFAULT_WEIGHTS,
  KIMI_K25_PRICES,
  reward,
  rFinish,
  rParallel,
  sequentialMs,
  sequentialSteps,
  stepSpeedup,
} from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';

const step = (
  stage: number,
  role: 'main' | 'sub',
  agentId: string,
  n: number,
  durationMs = 100,
): StepRecord => ({
  stage,
  role,
  agentId,
  step: n,
  startedAt: '2026-11-29T00:00:00.000Z',
  endedAt: '2026-11-29T00:00:00.100Z',
  durationMs,
  inputTokens: 100,
  outputTokens: 10,
  cachedInputTokens: 20,
  status: 'SUCCEEDED',
  attempt: 1,
});

/** Arbitrary jobs: stages with an orchestrator and some sub-agents, each with some steps. */
const jobSteps = (maxAgents = 6) =>
  fc
    .array(
      fc.record({
        main: fc.integer({ min: 0, max: 4 }),
        subs: fc.array(
          fc.record({ steps: fc.integer({ min: 0, max: 6 }), ms: fc.integer({ min: 1, max: 5000 }) }),
          {
            maxLength: maxAgents,
          },
        ),
      }),
      { minLength: 1, maxLength: 4 },
    )
    .map((stages) =>
      stages.flatMap((s, t) => [
        ...Array.from({ length: s.main }, (_, k) => step(t + 1, 'main', 'planner', k + 1)),
        ...s.subs.flatMap((a, i) =>
          Array.from({ length: a.steps }, (_, k) => step(t + 1, 'sub', `agent-${i}`, k + 1, a.ms)),
        ),
      ]),
    );

describe('compareSteps', () => {
  it('orders steps as their keys: stage, role, agent (code units), step', () => {
    const ordered = [
      step(1, 'main', 'planner', 1),
      step(1, 'main', 'synthesizer', 1),
      step(1, 'sub', 'Z-agent', 1),
      step(1, 'sub', 'agent-0002', 1),
      step(1, 'sub', 'agent-0002', 2),
      step(1, 'sub', 'agent-0010', 1),
      step(2, 'main', 'planner', 1),
    ];
    const shuffled = [
      ordered[4]!,
      ordered[6]!,
      ordered[2]!,
      ordered[0]!,
      ordered[5]!,
      ordered[3]!,
      ordered[1]!,
    ];
    expect(shuffled.sort(compareSteps)).toEqual(ordered);
  });
});

describe('CriticalSteps and SequentialSteps', () => {
  it('sums main steps plus the longest sub-agent per stage', () => {
    // Prepare: stage 1 has 1 main step and sub-agents with 2 and 3 steps; stage 2 has 2 main steps only.
    const steps = [
      step(1, 'main', 'planner', 1),
      step(1, 'sub', 'a', 1),
      step(1, 'sub', 'a', 2),
      step(1, 'sub', 'b', 1),
      step(1, 'sub', 'b', 2),
      step(1, 'sub', 'b', 3),
      step(2, 'main', 'synthesizer', 1),
      step(2, 'main', 'synthesizer', 2),
    ];
    // Act & Assess
    expect(criticalSteps(steps)).toBe(1 + 3 + 2);
    expect(sequentialSteps(steps)).toBe(1 + 5 + 2);
  });

  it('gives 0 for no steps and treats a stage without sub-agents as max 0', () => {
    expect(criticalSteps([])).toBe(0);
    expect(sequentialSteps([])).toBe(0);
    expect(criticalSteps([step(1, 'main', 'p', 1)])).toBe(1);
  });

  it('never has CriticalSteps above SequentialSteps', () => {
    fc.assert(fc.property(jobSteps(), (steps) => criticalSteps(steps) <= sequentialSteps(steps)));
  });

  it('is equal to SequentialSteps when every stage has at most one sub-agent', () => {
    fc.assert(fc.property(jobSteps(1), (steps) => criticalSteps(steps) === sequentialSteps(steps)));
  });

  it('keeps CriticalPathMs at or below SequentialMs', () => {
    fc.assert(fc.property(jobSteps(), (steps) => criticalPathMs(steps) <= sequentialMs(steps)));
  });

  it('sums durations along the slowest sub-agent, not the one with most steps', () => {
    const steps = [
      step(1, 'sub', 'many', 1, 10),
      step(1, 'sub', 'many', 2, 10),
      step(1, 'sub', 'slow', 1, 500),
    ];
    expect(criticalPathMs(steps)).toBe(500);
    expect(criticalSteps(steps)).toBe(2);
  });
});

describe('r_parallel, r_finish and rPARL', () => {
  it('keeps r_parallel in [0, 1)', () => {
    fc.assert(
      fc.property(jobSteps(), (steps) => {
        const r = rParallel(criticalSteps(steps), sequentialSteps(steps));
        return r >= 0 && r < 1;
      }),
    );
  });

  it('gives r_parallel 0 for serial collapse', () => {
    expect(rParallel(10, 10)).toBe(0);
    expect(rParallel(0, 0)).toBe(0);
  });

  it.each([
    [10, 10, 1],
    [10, 7, 0.7],
    [0, 0, 0],
    [4, 0, 0],
  ])('gives r_finish of %i spawned, %i completed as %d', (spawned, completed, expected) => {
    expect(rFinish(spawned, completed)).toBeCloseTo(expected, 12);
  });

  it('keeps the reward in [0, 1] when its parts and weights are', () => {
    const unit = fc.double({ min: 0, max: 1, noNaN: true });
    fc.assert(
      fc.property(unit, unit, unit, fc.tuple(unit, unit, unit), (p, f, q, [a, b, c]) => {
        const total = a + b + c || 1;
        const r = reward(
          { rParallel: p, rFinish: f, rPerf: q },
          { parallel: a / total, finish: b / total, perf: c / total },
        );
        return r !== null && r >= -1e-12 && r <= 1 + 1e-12;
      }),
    );
  });

  it('uses the default weights 0.4 / 0.35 / 0.25', () => {
    expect(DEFAULT_WEIGHTS).toEqual({ parallel: 0.4, finish: 0.35, perf: 0.25 });
    expect(reward({ rParallel: 0.5, rFinish: 1, rPerf: 0.8 })).toBeCloseTo(0.4 * 0.5 + 0.35 + 0.25 * 0.8, 12);
  });

  it('says an unscored job has no reward', () => {
    expect(reward({ rParallel: 0.9, rFinish: 1, rPerf: null })).toBeNull();
  });

  it('anneals λ1 and λ2 toward 0 and keeps λ3', () => {
    expect(annealWeights(DEFAULT_WEIGHTS, 0, 100)).toEqual(DEFAULT_WEIGHTS);
    const half = annealWeights(DEFAULT_WEIGHTS, 50, 100);
    expect(half.parallel).toBeCloseTo(0.2, 12);
    expect(half.finish).toBeCloseTo(0.175, 12);
    expect(half.perf).toBe(0.25);
    expect(annealWeights(DEFAULT_WEIGHTS, 500, 100)).toEqual({ parallel: 0, finish: 0, perf: 0.25 });
    expect(annealWeights(DEFAULT_WEIGHTS, 500, 0)).toEqual(DEFAULT_WEIGHTS);
  });
});

describe('cost and the job metrics', () => {
  it('prices uncached input, cached input and output separately (kimi-k2.5)', () => {
    // 1M input of which 0.25M cached, 0.1M output: 0.75·0.60 + 0.25·0.10 + 0.1·3.00
    expect(costUsd({ input: 1_000_000, cachedInput: 250_000, output: 100_000 }, KIMI_K25_PRICES)).toBeCloseTo(
      0.45 + 0.025 + 0.3,
      12,
    );
  });

  it('computes speedup and overhead from the records', () => {
    const steps = [step(1, 'main', 's', 1, 200), step(1, 'sub', 'a', 1, 300), step(1, 'sub', 'b', 1, 300)];
    const m = computeJobMetrics({
      steps,
      spawned: 2,
      completed: 1,
      correct: 1,
      scored: 2,
      acceptedAt: '2026-11-29T00:00:00.000Z',
      finishedAt: '2026-11-29T00:00:01.000Z',
    });
    expect(m.criticalSteps).toBe(2);
    expect(m.sequentialSteps).toBe(3);
    expect(m.stepSpeedup).toBe(1.5);
    expect(m.criticalPathMs).toBe(500);
    expect(m.sequentialMs).toBe(800);
    expect(m.wallClockMs).toBe(1000);
    expect(m.overhead).toBe(2);
    expect(m.rFinish).toBe(0.5);
    expect(m.rPerf).toBe(0.5);
    expect(m.tokens).toEqual({ input: 300, output: 30, cachedInput: 60 });
    expect(m.reward).toBeCloseTo(0.4 * (1 - 2 / 3) + 0.35 * 0.5 + 0.25 * 0.5, 12);
    expect(stepSpeedup(0, 0)).toBe(1);
  });
});
