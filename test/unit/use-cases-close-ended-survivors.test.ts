import { afterEach, describe, expect, it, vi } from 'vitest';
import { StateConflictError } from '#shared/domain/errors';
import type { PolicyState } from '#shared/domain/policy';
import type { StepRecord } from '#shared/domain/types';
import type { JobRecord, JobRef, JobStore, PlanPolicy, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger, CallStop } from '#shared/ports/ledger';
import type { PolicyStore } from '#shared/ports/policy-store';
import { closeEndedExecution, endedExecutionReason } from '#shared/use-cases/close-ended-execution';
import { CANCEL_REASON, cancelJob } from '#shared/use-cases/jobs';

const REF: JobRef = { tenantId: 't1', jobId: 'j1' };
const RUNNING = {
  ...REF,
  status: 'RUNNING',
  request: { task: 'check', mode: 'parl' },
  acceptedAt: '2026-12-03T00:00:00.000Z',
  executionId: 'exec-j1',
} as JobRecord;

/**
 * One job in memory, its ledger and its workflow; `inFlight` model calls are still running when the
 * calls are stopped, and `afterReads` replaces the stored job once it has been read that many times.
 */
function world(opts: { job?: JobRecord; inFlight?: number; afterReads?: [number, Partial<JobRecord>] } = {}) {
  let job: JobRecord | undefined = opts.job ?? RUNNING;
  let reads = 0;
  const finished: Parameters<JobStore['finishJob']>[1][] = [];
  const stops: { ref: JobRef; stop: CallStop }[] = [];
  const executionStops: [string, string][] = [];
  const settled: JobRef[] = [];
  const store = {
    getJob: (ref: JobRef) => {
      reads++;
      if (opts.afterReads && reads > opts.afterReads[0] && job) job = { ...job, ...opts.afterReads[1] };
      return Promise.resolve(ref.tenantId === REF.tenantId && ref.jobId === REF.jobId ? job : undefined);
    },
    finishJob: (_ref: JobRef, fields: Parameters<JobStore['finishJob']>[1]) => {
      finished.push(fields);
      if (job) job = { ...job, ...fields };
      return Promise.resolve(true);
    },
    listResults: () => Promise.resolve([]),
    listSubtasks: () => Promise.resolve([]),
  } as unknown as JobStore;
  const steps = {
    listSteps: () => Promise.resolve([]),
    listAgents: () => Promise.resolve([]),
  } as unknown as StepRecorder;
  const ledger = {
    stopCalls: (ref: JobRef, stop: CallStop) => {
      stops.push({ ref, stop });
      return Promise.resolve(opts.inFlight ?? 0);
    },
    settle: (ref: JobRef) => {
      settled.push({ tenantId: ref.tenantId, jobId: ref.jobId });
      return Promise.resolve();
    },
  } as unknown as BudgetLedger;
  const workflow = {
    start: () => Promise.reject(new Error('not started here')),
    stop: (executionId: string, cause: string) => {
      executionStops.push([executionId, cause]);
      return Promise.resolve();
    },
  };
  return { store, steps, ledger, workflow, finished, stops, executionStops, settled, stored: () => job };
}

describe('endedExecutionReason', () => {
  it('gives the reason it is told before any derived from the status', () => {
    // Prepare / Act
    const reason = endedExecutionReason({ status: 'ABORTED', cause: 'stopped by hand', reason: 'replaced' });
    // Assess
    expect(reason).toBe('replaced');
  });

  it("names a failed execution's error even without a cause", () => {
    // Prepare / Act
    const reason = endedExecutionReason({ status: 'FAILED', error: 'States.Runtime' });
    // Assess
    expect(reason).toBe('the execution failed: States.Runtime');
  });

  it('says only that the execution failed when it has neither error nor cause', () => {
    // Prepare / Act
    const reason = endedExecutionReason({ status: 'FAILED' });
    // Assess
    expect(reason).toBe('the execution failed');
  });
});

describe('closeEndedExecution', () => {
  it('leaves a job that has already ended as it is, with its error, and settles it', async () => {
    // Prepare
    const ended = { ...RUNNING, status: 'FAILED', error: 'synthesis failed: boom' } as JobRecord;
    const w = world({ job: ended });
    // Act
    const out = await closeEndedExecution(
      { store: w.store, steps: w.steps, ledger: w.ledger },
      { ...REF, status: 'TIMED_OUT' },
    );
    // Assess
    expect(out).toEqual({
      jobId: 'j1',
      previousStatus: 'FAILED',
      status: 'FAILED',
      error: 'synthesis failed: boom',
    });
    expect(w.finished).toEqual([]);
    expect(w.stops).toEqual([]);
    expect(w.settled).toEqual([REF]);
  });

  it("stops the job's model calls with the execution's status and reason", async () => {
    // Prepare
    const w = world();
    // Act
    await closeEndedExecution(
      { store: w.store, steps: w.steps, ledger: w.ledger },
      { ...REF, status: 'TIMED_OUT' },
    );
    // Assess
    expect(w.stops).toEqual([{ ref: REF, stop: { status: 'TIMED_OUT', reason: 'the execution timed out' } }]);
  });

  it('leaves the job to its last call in flight, storing nothing, and says it is deferred', async () => {
    // Prepare
    const w = world({ inFlight: 2 });
    // Act
    const out = await closeEndedExecution(
      { store: w.store, steps: w.steps, ledger: w.ledger },
      { ...REF, status: 'ABORTED' },
    );
    // Assess
    expect(out).toEqual({ jobId: 'j1', previousStatus: 'RUNNING', status: 'RUNNING', deferred: true });
    expect(w.finished).toEqual([]);
  });

  it("does not teach the job's policy from an execution that ended abnormally", async () => {
    // Prepare: a learning job with a scored answer, which a job run to its end would teach
    const policy: PlanPolicy = {
      taskClass: 'bma',
      mode: 'learn',
      armId: 'w1-i1',
      width: 1,
      itemsPerAgent: 1,
      pinned: [],
    };
    const w = world({ job: { ...RUNNING, plan: { policy } } as JobRecord });
    const at = (ms: number) => new Date(Date.UTC(2026, 11, 3, 0, 0, 0, ms)).toISOString();
    const stepOf = (role: 'main' | 'sub', agentId: string, from: number): StepRecord => ({
      stage: 1,
      role,
      agentId,
      step: 1,
      attempt: 1,
      startedAt: at(from),
      endedAt: at(from + 100),
      durationMs: 100,
      inputTokens: 100,
      outputTokens: 10,
      cachedInputTokens: 0,
      status: 'SUCCEEDED',
    });
    const store = {
      ...w.store,
      listSubtasks: () => Promise.resolve([{ id: 'a', prompt: 'p a', expected: 'compliant' }]),
      listResults: () =>
        Promise.resolve([
          { subtaskId: 'a', agentId: 'agent-0001', stage: 1, status: 'ANSWERED', correct: true },
        ]),
    } as unknown as JobStore;
    const steps = {
      listSteps: () => Promise.resolve([stepOf('main', 'planner', 0), stepOf('sub', 'agent-0001', 100)]),
      listAgents: () => Promise.resolve([]),
    } as unknown as StepRecorder;
    const updates: PolicyState[] = [];
    const policies: PolicyStore = {
      get: () => Promise.resolve(undefined),
      list: () => Promise.resolve([]),
      update: (_t, _c, initial, change) => {
        const state = change(initial());
        updates.push(state);
        return Promise.resolve(state);
      },
    };
    // Act
    await closeEndedExecution({ store, steps, policies }, { ...REF, status: 'TIMED_OUT' });
    // Assess
    expect(w.stored()).toMatchObject({ status: 'FAILED', metrics: { policy: { trained: false } } });
    expect(updates).toEqual([]);
  });

  it('closes the job without a ledger (no calls to stop)', async () => {
    // Prepare
    const w = world();
    // Act
    const out = await closeEndedExecution(
      { store: w.store, steps: w.steps },
      { ...REF, status: 'TIMED_OUT' },
    );
    // Assess
    expect(out).toEqual({
      jobId: 'j1',
      previousStatus: 'RUNNING',
      status: 'FAILED',
      error: 'the execution timed out',
    });
    expect(w.stored()).toMatchObject({ status: 'FAILED', error: 'the execution timed out' });
  });
});

describe('cancelJob', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses a job that has already ended with a StateConflictError naming it and its status', async () => {
    // Prepare
    const w = world({ job: { ...RUNNING, status: 'SUCCEEDED' } });
    // Act
    const error = await cancelJob(
      { store: w.store, steps: w.steps, ledger: w.ledger, workflow: w.workflow },
      REF,
    ).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(StateConflictError);
    expect((error as Error).message).toBe('job j1 has already ended: SUCCEEDED');
    expect(w.stops).toEqual([]);
  });

  it('stops the calls and the execution and stores the job CANCELLED with the reason', async () => {
    // Prepare
    const w = world();
    // Act
    const job = await cancelJob(
      { store: w.store, steps: w.steps, ledger: w.ledger, workflow: w.workflow },
      REF,
    );
    // Assess
    expect(job).toMatchObject({ status: 'CANCELLED', error: CANCEL_REASON });
    expect(w.stored()).toMatchObject({ status: 'CANCELLED', error: CANCEL_REASON });
    expect(w.stops[0]).toEqual({ ref: REF, stop: { status: 'ABORTED', reason: CANCEL_REASON } });
    expect(w.executionStops).toEqual([['exec-j1', CANCEL_REASON]]);
  });

  it('stops no execution for a job that has none yet', async () => {
    // Prepare
    const { executionId: _none, ...accepted } = { ...RUNNING, status: 'ACCEPTED' } as JobRecord;
    const w = world({ job: accepted as JobRecord });
    // Act
    const job = await cancelJob(
      { store: w.store, steps: w.steps, ledger: w.ledger, workflow: w.workflow },
      REF,
    );
    // Assess
    expect(job.status).toBe('CANCELLED');
    expect(w.executionStops).toEqual([]);
  });

  it('cancels a job without a ledger', async () => {
    // Prepare
    const w = world();
    // Act
    const job = await cancelJob({ store: w.store, steps: w.steps, workflow: w.workflow }, REF);
    // Assess
    expect(job.status).toBe('CANCELLED');
  });

  it('answers the job CANCELLED once the last call in flight has closed it within the wait', async () => {
    // Prepare: the job reads RUNNING until the last call closes it, after the first look past the cancel
    vi.useFakeTimers();
    const w = world({ inFlight: 1, afterReads: [3, { status: 'CANCELLED', error: CANCEL_REASON }] });
    let answered: JobRecord | undefined;
    // Act
    const cancelling = cancelJob(
      { store: w.store, steps: w.steps, ledger: w.ledger, workflow: w.workflow },
      REF,
    ).then((job) => {
      answered = job;
      return job;
    });
    await vi.advanceTimersByTimeAsync(100);
    // Assess
    expect(answered).toMatchObject({ status: 'CANCELLED', error: CANCEL_REASON });
    await cancelling;
  });

  it('answers the job still RUNNING once the wait is over while a call outlasts it', async () => {
    // Prepare
    vi.useFakeTimers();
    const w = world({ inFlight: 1 });
    let answered: JobRecord | undefined;
    // Act
    const cancelling = cancelJob(
      { store: w.store, steps: w.steps, ledger: w.ledger, workflow: w.workflow },
      REF,
      1_000,
    ).then((job) => {
      answered = job;
      return job;
    });
    await vi.advanceTimersByTimeAsync(1_000);
    // Assess
    expect(answered?.status).toBe('RUNNING');
    await cancelling;
  });

  it('answers at once, with the job as it is, when told to wait 0 ms', async () => {
    // Prepare: the last call would close the job right after the first look past the cancel
    vi.useFakeTimers();
    const w = world({ inFlight: 1, afterReads: [3, { status: 'CANCELLED', error: CANCEL_REASON }] });
    // Act
    const cancelling = cancelJob(
      { store: w.store, steps: w.steps, ledger: w.ledger, workflow: w.workflow },
      REF,
      0,
    );
    await vi.advanceTimersByTimeAsync(100);
    // Assess
    expect((await cancelling).status).toBe('RUNNING');
  });
});
