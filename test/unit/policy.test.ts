import { describe, expect, it } from 'vitest';
import { DEFAULT_CLI_TENANT } from '#cli/commands/store-opener';
import { LOCAL_TENANT } from '#local/runtime';
import { computeJobMetrics } from '#shared/domain/measures';
import {
  applyReward,
  candidateArms,
  chooseArm,
  defaultArms,
  emptyPolicy,
  type PolicyState,
  resolveFanOut,
  seededRandom,
  taskClassOf,
  viewPolicy,
} from '#shared/domain/policy';
import { DEFAULT_TOGGLE, toggleBudget } from '#shared/domain/toggle';
import { assignSubtasks } from '#shared/use-cases/plan-stage';

/** A policy whose arms earned the given rewards. */
const trained = (rewards: Record<string, number[]>): PolicyState => {
  let s = emptyPolicy('t', 'c');
  let job = 0;
  for (const [id, rs] of Object.entries(rewards)) {
    const arm = s.arms.find((a) => a.id === id)!;
    for (const reward of rs) {
      job += 1;
      s = applyReward(s, { jobId: `j${job}`, subtasks: 16, width: arm.width, armId: id, reward, rPerf: 1 });
    }
  }
  return s;
};

describe('the fan-out policy', () => {
  it.each([
    [16, 4, undefined, { width: 4, itemsPerAgent: 4, agents: 4 }],
    [16, 16, undefined, { width: 16, itemsPerAgent: 1, agents: 16 }],
    [10, 4, undefined, { width: 4, itemsPerAgent: 3, agents: 4 }],
    [16, 2, 1, { width: 2, itemsPerAgent: 1, agents: 16 }],
    [3, 64, undefined, { width: 3, itemsPerAgent: 1, agents: 3 }],
  ])('resolves %i subtasks at width %i, %s each, to %j', (n, w, k, expected) => {
    expect(resolveFanOut(n, w, k)).toEqual(expected);
  });

  it('keeps only the arms that differ for a job of the given size', () => {
    expect(candidateArms(defaultArms(), 16).map((a) => a.id)).toEqual(['w1', 'w2', 'w4', 'w8', 'w16']);
    expect(candidateArms(defaultArms(), 10).map((a) => a.id)).toEqual(['w1', 'w2', 'w4', 'w8', 'w16']);
    expect(candidateArms(defaultArms(), 1).map((a) => a.id)).toEqual(['w1']);
  });

  it('batches consecutive subtasks per sub-agent', () => {
    expect(assignSubtasks(['a', 'b', 'c', 'd', 'e'], 'parl', 2).map((x) => x.subtaskIds)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e'],
    ]);
  });

  it('gives one sub-agent a subtask at any count (no Map result bounds them)', () => {
    const ids = Array.from({ length: 50_000 }, (_, i) => `s${i}`);
    const agents = assignSubtasks(ids, 'parl', 1);
    expect(agents).toHaveLength(50_000);
    expect(new Set(agents.map((a) => a.agentId)).size).toBe(50_000);
  });

  it('tries every untried arm before sampling, in a seeded order', () => {
    let s = emptyPolicy('t', 'c');
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { arm, reason } = chooseArm(s, 16, 'learn', seededRandom(i));
      expect(reason).toBe('untried');
      seen.push(arm.id);
      s = applyReward(s, {
        jobId: `j${i}`,
        subtasks: 16,
        width: arm.width,
        armId: arm.id,
        reward: 0.5,
        rPerf: 1,
      });
    }
    expect(seen.sort()).toEqual(['w1', 'w16', 'w2', 'w4', 'w8']);
    expect(chooseArm(s, 16, 'learn', seededRandom(9)).reason).toBe('sampled');
  });

  it('samples the clearly best arm almost always once every arm has rewards', () => {
    const s = trained({
      w1: [0.1, 0.12],
      w2: [0.5, 0.52],
      w4: [0.85, 0.86, 0.84],
      w8: [0.6, 0.62],
      w16: [0.3, 0.31],
    });
    const random = seededRandom(42);
    const picks = Array.from({ length: 200 }, () => chooseArm(s, 16, 'learn', random).arm.id);
    expect(picks.filter((p) => p === 'w4').length).toBeGreaterThan(190);
  });

  it('gives the same choice for the same seed', () => {
    const s = trained({ w1: [0.5], w2: [0.52], w4: [0.51], w8: [0.49], w16: [0.5] });
    const a = Array.from({ length: 20 }, (_, i) => chooseArm(s, 16, 'learn', seededRandom(i)).arm.id);
    const b = Array.from({ length: 20 }, (_, i) => chooseArm(s, 16, 'learn', seededRandom(i)).arm.id);
    expect(a).toEqual(b);
    expect(new Set(a).size).toBeGreaterThan(1);
  });

  it('picks the best mean when greedy, and the widest candidate before any reward', () => {
    expect(chooseArm(emptyPolicy('t', 'c'), 16, 'greedy', Math.random)).toMatchObject({
      arm: { id: 'w16' },
      reason: 'default',
    });
    expect(chooseArm(trained({ w2: [0.7], w8: [0.6] }), 16, 'greedy', Math.random).arm.id).toBe('w2');
  });

  it('files a pinned job under the arm its fan-out matches, or a new arm', () => {
    let s = emptyPolicy('t', 'c');
    s = applyReward(s, { jobId: 'a', subtasks: 16, width: 4, itemsPerAgent: 4, reward: 0.8, rPerf: 1 });
    s = applyReward(s, { jobId: 'b', subtasks: 16, width: 2, itemsPerAgent: 1, reward: 0.6, rPerf: 1 });
    expect(s.stats.w4).toEqual({ n: 1, sum: 0.8, sumSq: 0.8 * 0.8 });
    expect(s.stats.w2k1?.n).toBe(1);
    expect(s.arms.some((a) => a.id === 'w2k1' && a.itemsPerAgent === 1)).toBe(true);
    expect(viewPolicy(s)).toMatchObject({ jobs: 2, bestArm: 'w4' });
  });

  it('ignores a job it already learned from', () => {
    const once = applyReward(emptyPolicy('t', 'c'), {
      jobId: 'a',
      subtasks: 4,
      width: 4,
      reward: 1,
      rPerf: 1,
    });
    expect(applyReward(once, { jobId: 'a', subtasks: 4, width: 4, reward: 1, rPerf: 1 })).toBe(once);
  });

  it('derives the task class from the workload when the request names none', () => {
    expect(taskClassOf({ workload: 'bma-compliance' })).toBe('bma-compliance');
    expect(taskClassOf({ workload: 'generic', taskClass: 'sums' })).toBe('sums');
  });
});

describe('TOGGLE', () => {
  it.each([
    [[0.97, 0.96, 0.98], 700, true],
    [[0.97, 0.96], 1000, false],
    [[0.97, 0.96, 0.8], 1000, false],
    [[0.91, 0.99, 1], 1000, false],
    [[0.5, 0.97, 0.96, 0.98], 700, true],
  ])('with recent r_perf %j uses a budget of %i', (recent, budget, reduced) => {
    expect(toggleBudget(1000, recent)).toMatchObject({ fullBudget: 1000, budget, reduced });
  });

  it('takes its thresholds from the settings', () => {
    const lenient = { ...DEFAULT_TOGGLE, window: 1, minPerf: 0.5, factor: 0.5 };
    expect(toggleBudget(800, [0.6], lenient).budget).toBe(400);
  });
});

describe('the fan-out flags', () => {
  const base = {
    steps: [],
    correct: 0,
    scored: 0,
    acceptedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:01Z',
  };
  it.each([
    ['parl, 4 subtasks, one sub-agent', { mode: 'parl', subtasks: 4, spawned: 1, completed: 1 }, true, false],
    ['sequential by request', { mode: 'sequential', subtasks: 4, spawned: 1, completed: 1 }, false, false],
    ['parl, one subtask', { mode: 'parl', subtasks: 1, spawned: 1, completed: 1 }, false, false],
    ['4 sub-agents, 2 finished', { mode: 'parl', subtasks: 4, spawned: 4, completed: 2 }, false, true],
    ['5 sub-agents, 4 finished', { mode: 'parl', subtasks: 5, spawned: 5, completed: 4 }, false, false],
  ] as const)('%s: serial collapse %s, spurious parallelism %s', (_label, job, collapse, spurious) => {
    expect(computeJobMetrics({ ...base, ...job }).flags).toEqual({
      serialCollapse: collapse,
      spuriousParallelism: spurious,
    });
  });

  it('takes the spurious-parallelism threshold from the input', () => {
    const m = computeJobMetrics({ ...base, spawned: 5, completed: 4, spuriousFinishThreshold: 0.9 });
    expect(m.flags?.spuriousParallelism).toBe(true);
  });
});

describe('the table opener of the stored-data commands', () => {
  it('defaults to the tenant of parl run', () => {
    expect(DEFAULT_CLI_TENANT).toBe(LOCAL_TENANT);
  });
});
