/**
 * Edges of the fan-out policy that the other policy tests leave open (see
 * docs/mutation-equivalents.md): candidate arms, the spread, Thompson sampling with a scripted
 * random source, greedy ties, which arm a job teaches, the kept windows, the view.
 */
import { describe, expect, it } from 'vitest';
import {
  APPLIED_JOBS_KEEP,
  type Arm,
  type ArmStats,
  applyReward,
  armFor,
  armId,
  candidateArms,
  chooseArm,
  defaultArms,
  emptyPolicy,
  type PolicyObservation,
  type PolicyState,
  RECENT_PERF_KEEP,
  spreadOf,
  viewPolicy,
} from '#shared/domain/policy';

/** A random source that returns the given values in order and fails when asked for more. */
const scripted = (...values: number[]) => {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error('random() called more often than scripted');
    return values[i++]!;
  };
};
/** With u = e^-2 the Box-Muller radius sqrt(-2 ln u) is 2; v = 0 gives cos 0 = 1, v = 0.5 gives -1, v = 0.25 gives 0. */
const U2 = Math.exp(-2);

const statsOf = (...rewards: number[]): ArmStats => ({
  n: rewards.length,
  sum: rewards.reduce((a, b) => a + b, 0),
  sumSq: rewards.reduce((a, b) => a + b * b, 0),
});
const A: Arm = { id: 'a', width: 1 };
const B: Arm = { id: 'b', width: 2 };
const withStats = (stats: Record<string, ArmStats>, arms: Arm[] = [A, B]): PolicyState => ({
  ...emptyPolicy('t1', 'c', arms),
  stats,
});
const obs = (over: Partial<PolicyObservation> = {}): PolicyObservation => ({
  jobId: 'j1',
  subtasks: 2,
  width: 2,
  reward: 0.5,
  rPerf: 0.5,
  ...over,
});
const NOW = new Date(0);

describe('emptyPolicy', () => {
  it('has seen nothing: no stats, no r_perf, no applied jobs', () => {
    expect(emptyPolicy('t1', 'c')).toEqual({
      tenantId: 't1',
      taskClass: 'c',
      version: 0,
      jobs: 0,
      arms: defaultArms(),
      stats: {},
      recentPerf: [],
      appliedJobs: [],
    });
  });
});

describe('candidateArms', () => {
  const k1 = (width: number): Arm => ({ id: armId(width, 1), width, itemsPerAgent: 1 });

  it('never adds a pinned arm twice (only an even-share arm is the "first wide" one)', () => {
    expect(candidateArms([{ id: 'w2', width: 2 }, k1(8)], 4).map((a) => a.id)).toEqual(['w2', 'w8k1']);
  });

  it('adds the first wider even-share arm when only a pinned arm has the job’s width', () => {
    expect(candidateArms([k1(4), { id: 'w8', width: 8 }], 4).map((a) => a.id)).toEqual(['w4k1', 'w8']);
  });

  it('falls back to the narrowest arm when no arm compares with the subtask count (NaN)', () => {
    expect(candidateArms(defaultArms(), Number.NaN).map((a) => a.id)).toEqual(['w1']);
  });
});

describe('spreadOf', () => {
  it('is the sample standard deviation (n − 1) from three rewards on', () => {
    // 0, 1, 2: mean 1, squared deviations 1 + 0 + 1 = 2, over n − 1 = 2: variance 1.
    expect(spreadOf(statsOf(0, 1, 2))).toBeCloseTo(1, 12);
  });
});

describe('chooseArm, learn: Thompson sampling with a scripted random source', () => {
  it('draws θ = mean + spread·z with z = sqrt(−2 ln u)·cos(2πv)', () => {
    // a: z = 2·cos(π) = −2, θ = 0.5 − 0.15·2 = 0.2; b: z = 2·cos(π/2) ≈ 0, θ ≈ 0.45.
    const state = withStats({ a: statsOf(0.5), b: statsOf(0.45) });
    expect(chooseArm(state, 16, 'learn', scripted(U2, 0.5, U2, 0.25))).toEqual({ arm: B, reason: 'sampled' });
  });

  it('scales a draw by the prior spread for an arm of one reward', () => {
    // a: z = 2·cos 0 = 2, θ = 0.5 + 0.15·2 = 0.8 beats b's θ ≈ 0.7.
    const state = withStats({ a: statsOf(0.5), b: statsOf(0.7) });
    expect(chooseArm(state, 16, 'learn', scripted(U2, 0, U2, 0.25)).arm).toEqual(A);
  });

  it('narrows the draw by sqrt(n) and floors the spread at minSpread', () => {
    // a: four rewards of 0.5, spread 0 → 0.03, θ = 0.5 + (0.03 / 2)·2 = 0.53 < b's θ ≈ 0.56.
    const state = withStats({ a: statsOf(0.5, 0.5, 0.5, 0.5), b: statsOf(0.56) });
    expect(chooseArm(state, 16, 'learn', scripted(U2, 0, U2, 0.25)).arm).toEqual(B);
  });

  it('keeps the earlier candidate on a tie', () => {
    const state = withStats({ a: statsOf(0.5), b: statsOf(0.5) });
    expect(chooseArm(state, 16, 'learn', () => 0.25).arm).toEqual(A);
  });

  it('picks an untried candidate by the random number, over all of them', () => {
    const state = emptyPolicy('t1', 'c', defaultArms([1, 2, 4]));
    expect(chooseArm(state, 16, 'learn', () => 0.99)).toEqual({
      arm: { id: 'w4', width: 4 },
      reason: 'untried',
    });
    expect(chooseArm(state, 16, 'learn', () => 0)).toEqual({
      arm: { id: 'w1', width: 1 },
      reason: 'untried',
    });
  });
});

describe('chooseArm, greedy', () => {
  const never = () => {
    throw new Error('greedy draws no random number');
  };

  it('picks the best mean, wherever it is among the candidates', () => {
    const state = withStats({ a: statsOf(0.3), b: statsOf(0.6) });
    expect(chooseArm(state, 16, 'greedy', never)).toEqual({ arm: B, reason: 'greedy' });
  });

  it('keeps the earlier candidate on a tie', () => {
    const state = withStats({ a: statsOf(0.5), b: statsOf(0.5) });
    expect(chooseArm(state, 16, 'greedy', never).arm).toEqual(A);
  });
});

describe('armFor', () => {
  const state = emptyPolicy('t1', 'c');

  it('teaches the chosen arm even when another arm has the same fan-out for this job', () => {
    // Two subtasks: w2 and w4 both run 2 agents of 1 subtask; the job chose w4.
    expect(armFor(state, obs({ armId: 'w4' })).id).toBe('w4');
  });

  it('reuses the stored arm matching a pinned fan-out outside the candidates', () => {
    expect(armFor(state, obs({ width: 8 }))).toBe(state.arms.find((a) => a.id === 'w8'));
  });

  it('makes a new arm with no itemsPerAgent key for an even share', () => {
    // Nine subtasks: the default arms run 1, 2, 3, 5 or 9 at once, none of them 6.
    expect(armFor(state, obs({ width: 6, subtasks: 9 }))).toStrictEqual({ id: 'w6', width: 6 });
    expect(armFor(state, obs({ width: 6, subtasks: 9, itemsPerAgent: 2 }))).toStrictEqual({
      id: 'w6k2',
      width: 6,
      itemsPerAgent: 2,
    });
  });
});

describe('applyReward', () => {
  it('bumps the version and keeps the arm list when the arm is known', () => {
    const state = { ...emptyPolicy('t1', 'c'), version: 5 };
    const next = applyReward(state, obs({ armId: 'w2' }), NOW);
    expect(next.version).toBe(6);
    expect(next.arms).toBe(state.arms);
    expect(next.updatedAt).toBe(NOW.toISOString());
  });

  it('keeps the latest RECENT_PERF_KEEP r_perf values, newest last', () => {
    const recentPerf = Array.from({ length: RECENT_PERF_KEEP }, (_, i) => i / 100);
    const next = applyReward({ ...emptyPolicy('t1', 'c'), recentPerf }, obs({ rPerf: 0.99 }), NOW);
    expect(next.recentPerf).toEqual([...recentPerf.slice(1), 0.99]);
    const first = applyReward(emptyPolicy('t1', 'c'), obs({ rPerf: 0.7 }), NOW);
    expect(first.recentPerf).toEqual([0.7]);
  });

  it('keeps the latest APPLIED_JOBS_KEEP job ids, newest last', () => {
    const appliedJobs = Array.from({ length: APPLIED_JOBS_KEEP }, (_, i) => `old-${i}`);
    const next = applyReward({ ...emptyPolicy('t1', 'c'), appliedJobs }, obs({ jobId: 'new' }), NOW);
    expect(next.appliedJobs).toEqual([...appliedJobs.slice(1), 'new']);
  });
});

describe('viewPolicy', () => {
  const arms: Arm[] = [
    { id: 'w4k2', width: 4, itemsPerAgent: 2 },
    { id: 'w8', width: 8 },
  ];

  it('shows each arm with its count and mean, itemsPerAgent only on a pinned arm', () => {
    const view = viewPolicy(withStats({ w4k2: statsOf(0.25, 0.5, 0.75), w8: statsOf(0.9) }, arms));
    expect(view.arms).toStrictEqual([
      { id: 'w4k2', width: 4, itemsPerAgent: 2, count: 3, meanReward: 0.5 },
      { id: 'w8', width: 8, count: 1, meanReward: 0.9 },
    ]);
    expect(view.bestArm).toBe('w8');
  });

  it('names the first of equally good arms, and none when no arm was tried', () => {
    expect(viewPolicy(withStats({ w4k2: statsOf(0.5), w8: statsOf(0.5) }, arms)).bestArm).toBe('w4k2');
    expect(viewPolicy(emptyPolicy('t1', 'c')).bestArm).toBeUndefined();
  });

  it('carries updatedAt when the policy has one', () => {
    const updatedAt = '2026-01-02T03:04:05.000Z';
    expect(viewPolicy({ ...emptyPolicy('t1', 'c'), updatedAt }).updatedAt).toBe(updatedAt);
  });
});
