import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JobMetrics, StepRecord, Subtask } from '#shared/domain/types';
import type { AgentRecord, JobRecord, JobStore, StepRecorder, SubtaskResult } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import { causeMessage, closeJob, settleJob, tallyAgents } from '#shared/use-cases/close-job';

const at = (ms: number) => new Date(Date.UTC(2026, 11, 3, 0, 0, 0, ms)).toISOString();
const STEPS: StepRecord[] = [
  {
    stage: 1,
    role: 'sub',
    agentId: 'agent-0001',
    step: 1,
    attempt: 1,
    startedAt: at(0),
    endedAt: at(100),
    durationMs: 100,
    inputTokens: 100,
    outputTokens: 10,
    cachedInputTokens: 0,
    status: 'SUCCEEDED',
  },
];
const SYNTHESIS: StepRecord = {
  ...STEPS[0]!,
  role: 'main',
  agentId: 'synthesizer',
  attempt: 2,
  startedAt: at(200),
  endedAt: at(1_000),
  durationMs: 800,
  inputTokens: 500,
  outputTokens: 50,
};
const agent = (agentId: string, status: AgentRecord['status'], error?: string): AgentRecord => ({
  stage: 1,
  agentId,
  status,
  attempt: 1,
  stepCount: 1,
  subtaskIds: [],
  ...(error ? { error } : {}),
});
const JOB = {
  tenantId: 't1',
  jobId: 'j1',
  status: 'RUNNING',
  request: { task: 'check', mode: 'parl' },
  acceptedAt: at(0),
} as JobRecord;

/** The stores and ledger of one closing, and what each was asked, in order. */
function world(opts: { stored?: boolean; current?: Partial<JobRecord> } = {}) {
  const calls: string[] = [];
  let finished: Parameters<JobStore['finishJob']>[1] | undefined;
  const settled: { steps: readonly StepRecord[]; report: unknown }[] = [];
  const store = {
    listResults: () => {
      calls.push('listResults');
      return Promise.resolve([
        { subtaskId: 'a', agentId: 'agent-0001', stage: 1, status: 'ANSWERED' },
      ] as SubtaskResult[]);
    },
    listSubtasks: () => {
      calls.push('listSubtasks');
      return Promise.resolve([{ id: 'a' }, { id: 'b' }] as Subtask[]);
    },
    finishJob: (_ref: unknown, fields: Parameters<JobStore['finishJob']>[1]) => {
      calls.push('finishJob');
      finished = fields;
      return Promise.resolve(opts.stored ?? true);
    },
    getJob: () => {
      calls.push('getJob');
      return Promise.resolve({ ...JOB, ...opts.current } as JobRecord);
    },
  } as unknown as JobStore;
  const steps = {
    listSteps: () => {
      calls.push('listSteps');
      return Promise.resolve(STEPS);
    },
    listAgentSteps: (_ref: unknown, stage: number, role: string, agentId: string) => {
      calls.push(`listAgentSteps ${stage} ${role} ${agentId}`);
      return Promise.resolve([SYNTHESIS]);
    },
    listAgents: () => {
      calls.push('listAgents');
      return Promise.resolve([agent('agent-0001', 'SUCCEEDED'), agent('agent-0002', 'FAILED', 'timed out')]);
    },
  } as unknown as StepRecorder;
  const ledger = {
    settle: (_ref: unknown, _acceptedAt: string, s: readonly StepRecord[], _p: unknown, report: unknown) => {
      calls.push('settle');
      settled.push({ steps: s, report });
      return Promise.resolve();
    },
  } as unknown as BudgetLedger;
  return { store, steps, ledger, calls, settled, finished: () => finished };
}

/** Closes JOB as the Aggregate does after a synthesis: no records left to read, the steps read before it. */
function closeAfterSynthesis(w: ReturnType<typeof world>, earlier: Promise<StepRecord[]>) {
  return closeJob(
    { store: w.store, steps: w.steps, ledger: w.ledger },
    JOB,
    { failurePath: false },
    {
      agents: [],
      results: [],
      subtasks: [],
      steps: { earlier, after: { stage: 1, role: 'main', agentId: 'synthesizer' } },
    },
  );
}

describe('closeJob', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stores a succeeded job with its measures and answer, settled before it is visible, and says so once', async () => {
    const w = world();
    const told: JobMetrics[] = [];
    const closed = await closeJob(
      { store: w.store, steps: w.steps, ledger: w.ledger, onFinished: (_ref, m) => told.push(m) },
      JOB,
      { answer: 'all compliant', failurePath: false },
    );
    expect(closed).toEqual({ jobId: 'j1', status: 'SUCCEEDED' });
    expect(w.calls.indexOf('settle')).toBeLessThan(w.calls.indexOf('finishJob'));
    expect(w.settled[0]?.steps).toEqual(STEPS);
    const fields = w.finished();
    expect(fields?.status).toBe('SUCCEEDED');
    expect(fields?.error).toBeUndefined();
    expect(fields?.result).toEqual({
      answer: 'all compliant',
      summary: { subtasks: 2, answered: 1, unanswered: 1 },
      failedAgents: [{ agentId: 'agent-0002', error: 'timed out' }],
    });
    expect(fields?.metrics?.subagents).toEqual({ spawned: 2, completed: 1 });
    // The settlement is told the AWS cost the metrics carry.
    expect(w.settled[0]?.report).toEqual({ awsCostUsd: fields?.metrics?.awsCostUsd });
    expect(told).toEqual([fields?.metrics]);
  });

  it('ends the wall-clock at the stored result: the scoring and the settlement before it count', async () => {
    // Prepare: accepted at 0, closed at 1,000, the settlement taking half a second
    vi.useFakeTimers({ now: Date.parse(at(1_000)) });
    const w = world();
    const settle = w.ledger.settle.bind(w.ledger);
    w.ledger.settle = (...args: Parameters<BudgetLedger['settle']>) => {
      vi.setSystemTime(Date.parse(at(1_500)));
      return settle(...args);
    };
    // Act
    await closeJob({ store: w.store, steps: w.steps, ledger: w.ledger }, JOB, { failurePath: false });
    // Assess: finished as stored, the overhead over the 100 ms critical path with it
    const fields = w.finished();
    expect(fields?.finishedAt).toBe(at(1_500));
    expect(fields?.metrics?.wallClockMs).toBe(1_500);
    expect(fields?.metrics?.criticalPathMs).toBe(100);
    expect(fields?.metrics?.overhead).toBe(15);
  });

  it('stores a failed job FAILED with its reason, or CANCELLED when asked, with an empty answer', async () => {
    const failed = world();
    expect(
      await closeJob({ store: failed.store, steps: failed.steps }, JOB, { error: 'boom', failurePath: true }),
    ).toEqual({ jobId: 'j1', status: 'FAILED', error: 'boom' });
    expect(failed.finished()).toMatchObject({ status: 'FAILED', error: 'boom', result: { answer: '' } });
    const cancelled = world();
    await closeJob({ store: cancelled.store, steps: cancelled.steps }, JOB, {
      error: 'cancelled by the tenant',
      failedAs: 'CANCELLED',
      failurePath: true,
    });
    expect(cancelled.finished()?.status).toBe('CANCELLED');
  });

  it('returns the stored state, and tells nobody, when another call closed the job first', async () => {
    const w = world({ stored: false, current: { status: 'CANCELLED', error: 'cancelled by the tenant' } });
    let told = 0;
    const closed = await closeJob({ store: w.store, steps: w.steps, onFinished: () => told++ }, JOB, {
      failurePath: false,
    });
    expect(closed).toEqual({ jobId: 'j1', status: 'CANCELLED', error: 'cancelled by the tenant' });
    expect(told).toBe(0);
  });

  it('reads no records the caller already has', async () => {
    const w = world();
    await closeJob(
      { store: w.store, steps: w.steps },
      JOB,
      { failurePath: false },
      {
        agents: [],
        results: [],
        subtasks: [],
      },
    );
    expect(w.calls).toEqual(['listSteps', 'finishJob']);
    expect(w.finished()?.result).toEqual({
      answer: '',
      summary: { subtasks: 0, answered: 0, unanswered: 0 },
    });
  });

  it('reads the last agent’s steps alone when it has the earlier ones, its own replacing any read then', async () => {
    // Prepare: steps read before the synthesis, with a retried Aggregate's older synthesizer step
    const w = world();
    const older = { ...SYNTHESIS, attempt: 1, inputTokens: 9_000 };
    // Act
    await closeAfterSynthesis(w, Promise.resolve([older, ...STEPS]));
    // Assess: no full read; the settlement gets both steps, the synthesizer's as read now, in key order
    expect(w.calls).toEqual(['listAgentSteps 1 main synthesizer', 'settle', 'finishJob']);
    expect(w.settled[0]?.steps).toEqual([SYNTHESIS, ...STEPS]);
    expect(w.finished()?.metrics?.tokens.input).toBe(600);
  });

  it('reads every step when the earlier read failed', async () => {
    // Prepare
    const w = world();
    const earlier = Promise.reject(new Error('throttled'));
    earlier.catch(() => undefined);
    // Act
    await closeAfterSynthesis(w, earlier);
    // Assess
    expect(w.calls).toEqual(['listAgentSteps 1 main synthesizer', 'listSteps', 'settle', 'finishJob']);
    expect(w.settled[0]?.steps).toEqual(STEPS);
  });

  it('lists at most 100 failed sub-agents in the result', async () => {
    const w = world();
    const agents = Array.from({ length: 150 }, (_, i) => agent(`agent-${i}`, 'FAILED'));
    await closeJob(
      { store: w.store, steps: w.steps },
      JOB,
      { failurePath: false },
      {
        agents,
        results: [],
        subtasks: [],
      },
    );
    const listed = w.finished()?.result?.failedAgents ?? [];
    expect(listed).toHaveLength(100);
    expect(listed[0]).toEqual({ agentId: 'agent-0', error: 'failed' });
  });
});

describe('the closing helpers', () => {
  it('causeMessage reads a Lambda error’s message, else the cause as it is', () => {
    expect(causeMessage({ Error: 'PlanError', Cause: JSON.stringify({ errorMessage: 'bad plan' }) })).toBe(
      'PlanError: bad plan',
    );
    expect(causeMessage({ Error: 'States.Timeout', Cause: 'took too long' })).toBe(
      'States.Timeout: took too long',
    );
    expect(causeMessage({ Cause: JSON.stringify({ other: 1 }) })).toBe('Error: {"other":1}');
    expect(causeMessage({ Error: 'States.Runtime' })).toBe('States.Runtime');
    expect(causeMessage({})).toBe('Error');
  });

  it('tallyAgents counts the plan’s sub-agents over all stages, else the records', () => {
    const agents = [agent('a', 'SUCCEEDED'), agent('b', 'FAILED')];
    const planned = { ...JOB, plan: { agents: 3, earlierAgents: 4 } } as JobRecord;
    expect(tallyAgents(planned, agents)).toEqual({
      spawned: 7,
      completed: 1,
      failedAgents: [{ agentId: 'b', error: 'failed' }],
    });
    expect(tallyAgents({ ...JOB, plan: { agents: 3 } } as JobRecord, agents).spawned).toBe(3);
    expect(tallyAgents(JOB, agents).spawned).toBe(2);
  });

  it('settleJob does nothing without a ledger, and reads the steps only when not given them', async () => {
    const w = world();
    await settleJob({ steps: w.steps }, JOB);
    expect(w.calls).toEqual([]);
    await settleJob(
      { steps: w.steps, ledger: w.ledger },
      { ...JOB, metrics: { awsCostUsd: 0.25 } as JobMetrics },
    );
    expect(w.calls).toEqual(['listSteps', 'settle']);
    expect(w.settled[0]?.report).toEqual({ awsCostUsd: 0.25 });
    await settleJob({ steps: w.steps, ledger: w.ledger }, JOB, [], 0.5);
    expect(w.calls).toEqual(['listSteps', 'settle', 'settle']);
    expect(w.settled[1]).toEqual({ steps: [], report: { awsCostUsd: 0.5 } });
  });
});
