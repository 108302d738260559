import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentRecord, JobStore, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { config, input, llm, runningJob, subtasks } from './subagent-fixtures';

/**
 * The job in memory; a result is stored on a later turn of the event loop (as over a network), the
 * first step record fails when `stepFails` says so.
 */
function memoryJob(stepFails?: Error) {
  const agents: AgentRecord[] = [];
  const job = runningJob();
  const store = {
    getJobAndSubtasks: (_ref, ids) =>
      Promise.resolve({ job, subtasks: subtasks.filter((s) => ids.includes(s.id)) }),
    getDatasetItem: () => Promise.resolve(undefined),
    putResult: () => new Promise<void>((resolve) => setImmediate(resolve)),
  } as Partial<JobStore> as JobStore;
  const steps = {
    nextAttempt: () => Promise.resolve(1),
    recordStep: (_ref, step) =>
      stepFails && step.step === 1 ? Promise.reject(stepFails) : Promise.resolve(),
    finishAgent: (_ref, agent) => {
      agents.push(agent);
      return Promise.resolve();
    },
  } as Partial<StepRecorder> as StepRecorder;
  return { store, steps, agents };
}

/** A ledger that authorizes every call and cannot store the completion of the calls `fails` names (1-based). */
function ledgerFailing(fails: (call: number) => boolean): BudgetLedger {
  let calls = 0;
  return {
    authorizeCall: () => Promise.resolve(1),
    completeCall: () => {
      calls += 1;
      return fails(calls) ? Promise.reject(new Error('the ledger is gone')) : Promise.resolve(undefined);
    },
  } as Partial<BudgetLedger> as BudgetLedger;
}

describe('runSubagent and the writes it leaves on their way', () => {
  // A rejection nobody handles ends a Lambda's process (Node's default): none may escape.
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => {
    unhandled.push(reason);
  };
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it('fails the agent when the completion of its last call cannot be stored', async () => {
    const job = memoryJob();
    const ledger = ledgerFailing((call) => call === 2);
    await expect(runSubagent({ ...job, llm, ledger, config }, input)).rejects.toThrow('the ledger is gone');
    expect(job.agents.map((a) => a.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(job.agents[1]?.error).toBe('the ledger is gone');
    expect(unhandled).toEqual([]);
  });

  it('lets no failed step record go unhandled while it stores a result', async () => {
    const job = memoryJob(new Error('the table is gone'));
    await expect(runSubagent({ ...job, llm, config }, input)).rejects.toThrow('the table is gone');
    expect(job.agents.map((a) => a.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(unhandled).toEqual([]);
  });

  it('lets no failed completion go unhandled while it stores a result', async () => {
    const job = memoryJob();
    const ledger = ledgerFailing((call) => call === 1);
    await expect(runSubagent({ ...job, llm, ledger, config }, input)).rejects.toThrow('the ledger is gone');
    expect(job.agents.map((a) => a.status)).toEqual(['FAILED']);
    expect(unhandled).toEqual([]);
  });
});
