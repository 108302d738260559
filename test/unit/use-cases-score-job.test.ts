import { describe, expect, it } from 'vitest';
import type { PolicyState } from '#shared/domain/policy';
import type { StepRecord, Subtask } from '#shared/domain/types';
import type { JobRecord, PlanPolicy, SubtaskResult } from '#shared/ports/job-store';
import type { PolicyStore } from '#shared/ports/policy-store';
import { type JobTally, scoreJob, summarize } from '#shared/use-cases/score-job';

const result = (subtaskId: string, fields: Partial<SubtaskResult> = {}): SubtaskResult => ({
  subtaskId,
  agentId: 'agent-0001',
  stage: 1,
  status: 'ANSWERED',
  ...fields,
});
const subtask = (id: string, expected?: string): Subtask =>
  ({ id, prompt: `p ${id}`, ...(expected === undefined ? {} : { expected }) }) as Subtask;

const at = (ms: number) => new Date(Date.UTC(2026, 11, 3, 0, 0, 0, ms)).toISOString();
const step = (role: 'main' | 'sub', agentId: string, n: number, from: number, to: number): StepRecord => ({
  stage: 1,
  role,
  agentId,
  step: n,
  attempt: 1,
  startedAt: at(from),
  endedAt: at(to),
  durationMs: to - from,
  inputTokens: 100,
  outputTokens: 10,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
});
/** A plan step, two sub-agents of two and one steps, a synthesis step. */
const STEPS = [
  step('main', 'planner', 1, 0, 100),
  step('sub', 'agent-0001', 1, 100, 200),
  step('sub', 'agent-0001', 2, 200, 300),
  step('sub', 'agent-0002', 1, 100, 200),
  step('main', 'synthesizer', 1, 300, 400),
];

const policy = (fields: Partial<PlanPolicy> = {}): PlanPolicy => ({
  taskClass: 'bma',
  mode: 'learn',
  armId: 'w2-i1',
  width: 2,
  itemsPerAgent: 1,
  pinned: [],
  ...fields,
});
const job = (fields: Partial<JobRecord> = {}): JobRecord =>
  ({
    tenantId: 't1',
    jobId: 'j1',
    status: 'RUNNING',
    request: { task: 'check', mode: 'parl' },
    acceptedAt: at(0),
    ...fields,
  }) as JobRecord;
const tally = (fields: Partial<JobTally> = {}): JobTally => ({
  job: job(),
  steps: STEPS,
  spawned: 2,
  completed: 2,
  summary: { scored: 3, correct: 3 },
  subtasks: 3,
  finishedAt: at(450),
  learn: true,
  ...fields,
});

/** A policy store that keeps what it is told, one state per task class. */
function policies(start?: Partial<PolicyState>) {
  const updates: PolicyState[] = [];
  let state = start as PolicyState | undefined;
  const store: PolicyStore = {
    get: () => Promise.resolve(state),
    list: () => Promise.resolve(state ? [state] : []),
    update: (_t, _c, initial, change) => {
      state = change(state ?? initial());
      updates.push(state);
      return Promise.resolve(state);
    },
  };
  return { store, updates };
}

describe('summarize (the counts of a stage’s results)', () => {
  it('counts answered, unanswered, cut answers and verdicts over the subtasks', () => {
    const summary = summarize(
      [
        result('a', { verdict: 'compliant' }),
        result('b', { verdict: 'non_compliant', cut: true }),
        result('c', { verdict: 'non_compliant' }),
        result('d', { status: 'FAILED', verdict: 'compliant' }),
      ],
      ['a', 'b', 'c', 'd', 'e'].map((id) => subtask(id)),
    );
    // A failed result's verdict is not counted; e has no result at all.
    expect(summary).toEqual({
      subtasks: 5,
      answered: 3,
      unanswered: 2,
      cut: 1,
      compliant: 1,
      nonCompliant: 2,
    });
  });

  it('leaves out cut, verdicts and scoring when nothing carries them', () => {
    expect(summarize([result('a')], [subtask('a')])).toEqual({ subtasks: 1, answered: 1, unanswered: 0 });
  });

  it('scores every subtask with ground truth, one without a result as wrong, none without truth', () => {
    const summary = summarize(
      [result('a', { correct: true }), result('b', { correct: false }), result('x', { correct: true })],
      [subtask('a', '1'), subtask('b', '2'), subtask('c', '3'), subtask('x')],
    );
    expect(summary.scored).toBe(3);
    expect(summary.correct).toBe(1);
  });
});

describe('scoreJob', () => {
  it('measures the job from its steps: critical path, sequential steps, wall-clock from acceptance', async () => {
    const metrics = await scoreJob({}, tally());
    expect(metrics.criticalSteps).toBe(4); // planner 1 + longest sub-agent 2 + synthesizer 1
    expect(metrics.sequentialSteps).toBe(5);
    expect(metrics.wallClockMs).toBe(450);
    expect(metrics.rPerf).toBe(1);
    expect(metrics.subagents).toEqual({ spawned: 2, completed: 2 });
    expect(metrics.policy).toBeUndefined();
    expect(metrics.toggle).toBeUndefined();
    expect(metrics.provider).toBeUndefined();
    // The AWS estimate is always there, and the total is the two costs added.
    expect(metrics.awsCostUsd).toBeGreaterThan(0);
    expect(metrics.totalCostUsd).toBeCloseTo(metrics.costUsd + (metrics.awsCostUsd ?? 0), 12);
  });

  it('uses the job’s own weights over the service’s', async () => {
    const own = { parallel: 0.5, finish: 0.25, perf: 0.25 } as never;
    const service = { parallel: 0.1, finish: 0.1, perf: 0.8 } as never;
    expect((await scoreJob({ weights: service }, tally({ job: job({ weights: own }) }))).weights).toEqual(
      own,
    );
    expect((await scoreJob({ weights: service }, tally())).weights).toEqual(service);
  });

  it('with a TOGGLE budget, says how many output tokens it saved over the sub-agents’ calls', async () => {
    const planned = job({
      plan: {
        policy: policy(),
        budget: { fullBudget: 1000, budget: 600, reduced: true, reason: 'short answers' },
      } as JobRecord['plan'],
    });
    const metrics = await scoreJob({}, tally({ job: planned }));
    // Three sub-agent calls, 400 tokens each.
    expect(metrics.toggle).toEqual({ fullBudget: 1000, budget: 600, reduced: true, tokensSaved: 1200 });
  });

  it('teaches the job’s policy its reward once scored, and says so', async () => {
    const p = policies();
    const planned = job({ plan: { policy: policy() } as JobRecord['plan'] });
    const metrics = await scoreJob({ policies: p.store }, tally({ job: planned }));
    expect(metrics.policy).toEqual({
      taskClass: 'bma',
      mode: 'learn',
      armId: 'w2-i1',
      width: 2,
      itemsPerAgent: 1,
      trained: true,
    });
    expect(p.updates).toHaveLength(1);
    expect(p.updates[0]?.jobs).toBe(1);
  });

  it('does not train on the failure path, on an unscored job, without a store or with the policy off', async () => {
    const planned = (mode: PlanPolicy['mode']) =>
      job({ plan: { policy: policy({ mode }) } as JobRecord['plan'] });
    const cases: [string, Parameters<typeof scoreJob>[0], JobTally][] = [
      ['failure path', {}, tally({ job: planned('learn'), learn: false })],
      ['unscored', {}, tally({ job: planned('learn'), summary: {} })],
      ['no store', { policies: undefined }, tally({ job: planned('learn') })],
      ['off', {}, tally({ job: planned('off') })],
    ];
    for (const [name, deps, t] of cases) {
      const p = policies();
      const metrics = await scoreJob({ policies: p.store, ...deps }, t);
      expect({ name, trained: metrics.policy?.trained, updates: p.updates.length }).toEqual({
        name,
        trained: false,
        updates: 0,
      });
    }
  });

  it('anneals the weights by the policy’s experience only when the job asks for it', async () => {
    const base = { parallel: 0.5, finish: 0.25, perf: 0.25 } as never;
    const experienced = policies({ jobs: 1000 } as Partial<PolicyState>);
    const planned = { plan: { policy: policy() } as JobRecord['plan'], weights: base };
    const annealed = await scoreJob(
      { policies: experienced.store },
      tally({ job: job({ ...planned, annealJobs: 10 }), learn: false }),
    );
    const plain = await scoreJob({ policies: experienced.store }, tally({ job: job(planned), learn: false }));
    expect(plain.weights).toEqual(base);
    expect(annealed.weights).not.toEqual(base);
  });
});
