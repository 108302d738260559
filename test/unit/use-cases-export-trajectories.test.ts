import { describe, expect, it } from 'vitest';
import type { JobMetrics, StepRecord } from '#shared/domain/types';
import type { JobListing, JobRecord, JobStore, PlanSummary, StepRecorder } from '#shared/ports/job-store';
import type { Page } from '#shared/ports/paging';
import {
  exportTrajectories,
  TRAJECTORY_VERSION,
  type TrajectoryLimits,
  toTrajectory,
} from '#shared/use-cases/export-trajectories';

const LIMITS: TrajectoryLimits = {
  maxSubagentsCap: 100,
  defaultMaxSubagents: 10,
  subagentStepBudget: 6,
  maxOutputTokens: 2000,
};
const at = (ms: number) => new Date(Date.UTC(2026, 11, 3, 0, 0, 0, ms)).toISOString();
const step = (
  stage: number,
  role: 'main' | 'sub',
  agentId: string,
  from: number,
  to: number,
): StepRecord => ({
  stage,
  role,
  agentId,
  step: 1,
  attempt: 1,
  startedAt: at(from),
  endedAt: at(to),
  durationMs: to - from,
  inputTokens: 10,
  outputTokens: 1,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
});
/**
 * Stage 1: the planner (100 ms), agent A with two steps (150 + 250 ms), agent B with one (300 ms);
 * stage 2: the synthesizer (50 ms). Out of time order, as a store's key order would give them.
 */
const STEPS: StepRecord[] = [
  step(1, 'sub', 'agent-A', 400, 650),
  step(2, 'main', 'synthesizer', 900, 950),
  step(1, 'sub', 'agent-B', 100, 400),
  step(1, 'main', 'planner', 0, 100),
  step(1, 'sub', 'agent-A', 250, 400),
];
const PLAN: PlanSummary = {
  stage: 2,
  agents: 3,
  earlierAgents: 2,
  maxConcurrency: 4,
  mapMode: 'DISTRIBUTED',
  subtasks: 12,
  decomposedBy: 'orchestrator',
  itemsPerAgent: 3,
  budget: { fullBudget: 2000, budget: 1200, reduced: true, reason: 'toggle' },
  policy: {
    taskClass: 'bma',
    mode: 'learn',
    armId: 'w5-i3',
    reason: 'sampled',
    policyVersion: 7,
    width: 5,
    itemsPerAgent: 3,
    pinned: ['itemsPerAgent'],
  },
};
const METRICS = {
  reward: 0.75,
  rParallel: 0.5,
  rFinish: 1,
  rPerf: 0.8,
  weights: { parallel: 0.2, finish: 0.3, perf: 0.5 },
  criticalSteps: 4,
  sequentialSteps: 5,
  wallClockMs: 950,
  tokens: { input: 50, output: 5, cachedInput: 0 },
  costUsd: 0.0125,
  flags: { serialCollapse: false, spuriousParallelism: true },
} as JobMetrics;
const job = (fields: Partial<JobRecord> = {}): JobRecord => ({
  tenantId: 't1',
  jobId: 'j1',
  status: 'SUCCEEDED',
  request: { task: 'check the contracts', mode: 'parl', workload: 'generic' } as JobRecord['request'],
  acceptedAt: at(0),
  ...fields,
});

describe('toTrajectory', () => {
  it('records a planned, scored job: state, actions, each stage, reward and outcome', () => {
    // Prepare
    const finished = job({
      finishedAt: at(1000),
      maxWidth: 6,
      plan: PLAN,
      metrics: METRICS,
      error: 'one subtask unanswered',
      request: {
        task: 'check the contracts',
        taskClass: 'bma',
        mode: 'parl',
        workload: 'generic',
      } as JobRecord['request'],
    });
    // Act
    const trajectory = toTrajectory(finished, STEPS, LIMITS);
    // Assess
    expect(trajectory).toStrictEqual({
      version: TRAJECTORY_VERSION,
      tenantId: 't1',
      jobId: 'j1',
      acceptedAt: at(0),
      finishedAt: at(1000),
      status: 'SUCCEEDED',
      state: {
        task: 'check the contracts',
        taskClass: 'bma',
        workload: 'generic',
        mode: 'parl',
        subtasks: 12,
        limits: { ...LIMITS, tenantMaxSubagents: 6 },
        policyVersion: 7,
      },
      actions: {
        decomposition: { subtasks: 12, by: 'orchestrator' },
        width: 5,
        itemsPerAgent: 3,
        agents: 5,
        mapMode: 'DISTRIBUTED',
        outputTokenBudget: { full: 2000, used: 1200, reduced: true },
        stages: 2,
        policy: { mode: 'learn', armId: 'w5-i3', reason: 'sampled', pinned: ['itemsPerAgent'] },
      },
      stages: [
        {
          stage: 1,
          mainSteps: 1,
          subSteps: 3,
          maxSubSteps: 2,
          agents: 2,
          // The planner's 100 ms and the longest agent's 400 ms; then all three agents' 700 ms.
          criticalPathMs: 500,
          sequentialMs: 800,
          startedAt: at(0),
          endedAt: at(650),
        },
        {
          stage: 2,
          mainSteps: 1,
          subSteps: 0,
          maxSubSteps: 0,
          agents: 0,
          criticalPathMs: 50,
          sequentialMs: 50,
          startedAt: at(900),
          endedAt: at(950),
        },
      ],
      reward: {
        rPARL: 0.75,
        rParallel: 0.5,
        rFinish: 1,
        rPerf: 0.8,
        weights: { parallel: 0.2, finish: 0.3, perf: 0.5 },
        criticalSteps: 4,
        sequentialSteps: 5,
      },
      outcome: {
        error: 'one subtask unanswered',
        wallClockMs: 950,
        tokens: { input: 50, output: 5, cachedInput: 0 },
        costUsd: 0.0125,
        flags: { serialCollapse: false, spuriousParallelism: true },
      },
    });
  });

  it('records a job that was never planned nor scored with the neutral values and nothing made up', () => {
    const trajectory = toTrajectory(job({ status: 'FAILED' }), [], LIMITS);
    expect(trajectory).toStrictEqual({
      version: TRAJECTORY_VERSION,
      tenantId: 't1',
      jobId: 'j1',
      acceptedAt: at(0),
      status: 'FAILED',
      state: { task: 'check the contracts', workload: 'generic', mode: 'parl', subtasks: 0, limits: LIMITS },
      actions: {
        decomposition: { subtasks: 0, by: 'none' },
        width: 0,
        itemsPerAgent: 1,
        agents: 0,
        mapMode: 'none',
        stages: 0,
      },
      stages: [],
      reward: null,
      outcome: {},
    });
  });

  it('takes the Map’s concurrency as the width without a policy, and this stage’s agents alone in a first stage', () => {
    const {
      policy: _policy,
      budget: _budget,
      earlierAgents: _earlier,
      itemsPerAgent: _items,
      ...plain
    } = PLAN;
    const { actions, state } = toTrajectory(job({ plan: plain }), [], LIMITS);
    expect(actions).toStrictEqual({
      decomposition: { subtasks: 12, by: 'orchestrator' },
      width: 4,
      itemsPerAgent: 1,
      agents: 3,
      mapMode: 'DISTRIBUTED',
      stages: 2,
    });
    expect(state).not.toHaveProperty('policyVersion');
  });

  it('leaves out what a policy did not say: its arm, its reason, its version', () => {
    const policy = { taskClass: 'bma', mode: 'off' as const, width: 2, itemsPerAgent: 1, pinned: [] };
    const { actions, state } = toTrajectory(job({ plan: { ...PLAN, policy } }), [], LIMITS);
    expect(actions.policy).toStrictEqual({ mode: 'off', pinned: [] });
    expect(actions.width).toBe(2);
    expect(state).not.toHaveProperty('policyVersion');
  });

  it('leaves the flags out of the outcome when the job was not judged for them', () => {
    const { flags: _flags, ...unflagged } = METRICS;
    const { outcome } = toTrajectory(job({ metrics: unflagged as JobMetrics }), [], LIMITS);
    expect(outcome).toStrictEqual({
      wallClockMs: 950,
      tokens: { input: 50, output: 5, cachedInput: 0 },
      costUsd: 0.0125,
    });
  });
});

/** A job store listing `pages` one after another, and what it was asked. */
function listing(pages: JobRecord[][]) {
  const asked: JobListing[] = [];
  const jobs: Pick<JobStore, 'listJobs'> = {
    listJobs: (_tenantId, opts = {}) => {
      asked.push(opts);
      const n = opts.cursor ? Number(opts.cursor) : 0;
      const page: Page<JobRecord> = {
        items: pages[n] ?? [],
        ...(n + 1 < pages.length ? { nextCursor: String(n + 1) } : {}),
      };
      return Promise.resolve(page);
    },
  };
  const read: string[] = [];
  const steps = {
    listSteps: (ref: JobRecord) => {
      read.push(ref.jobId);
      return Promise.resolve(ref.jobId === 'j1' ? STEPS : []);
    },
  } as unknown as StepRecorder;
  return { jobs, steps, asked, read };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('exportTrajectories', () => {
  it('yields the finished jobs of every page, oldest first, and reads the steps of those only', async () => {
    // Prepare
    const l = listing([
      [job({ jobId: 'j1' }), job({ jobId: 'j2', status: 'RUNNING' })],
      [job({ jobId: 'j3', status: 'CANCELLED' }), job({ jobId: 'j4', status: 'ACCEPTED' })],
      [job({ jobId: 'j5', status: 'FAILED' })],
    ]);
    // Act
    const out = await collect(
      exportTrajectories({ jobs: l.jobs, steps: l.steps, limits: LIMITS }, { tenantId: 't1', since: at(0) }),
    );
    // Assess
    expect(out.map((t) => [t.jobId, t.status])).toEqual([
      ['j1', 'SUCCEEDED'],
      ['j3', 'CANCELLED'],
      ['j5', 'FAILED'],
    ]);
    expect(l.read).toEqual(['j1', 'j3', 'j5']);
    expect(out[0]?.stages).toHaveLength(2);
    expect(l.asked).toEqual([
      { order: 'oldest', consistent: true, limit: 100, since: at(0) },
      { order: 'oldest', consistent: true, limit: 100, since: at(0), cursor: '1' },
      { order: 'oldest', consistent: true, limit: 100, since: at(0), cursor: '2' },
    ]);
  });

  it('asks for all of the tenant’s jobs when given no start', async () => {
    const l = listing([[job()]]);
    await collect(exportTrajectories({ jobs: l.jobs, steps: l.steps, limits: LIMITS }, { tenantId: 't1' }));
    expect(l.asked).toStrictEqual([{ order: 'oldest', consistent: true, limit: 100 }]);
  });
});
