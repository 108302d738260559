import { describe, expect, it } from 'vitest';
import type { StepRecord } from '#shared/domain/types';
import type { AgentRecord, JobStore, StepRecorder, SubtaskResult } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { config, input, llm, runningJob, subtasks } from './subagent-fixtures';

/**
 * The job in memory; each step record is stored when the test says so (`store`) or fails
 * (`fail`), and every write is logged in the order it was asked for.
 */
function memoryJob() {
  const log: string[] = [];
  const agents: AgentRecord[] = [];
  const pending: { step: StepRecord; settle: (error?: Error) => void }[] = [];
  const job = runningJob({
    plan: { stage: 1, agents: 1, maxConcurrency: 1, mapMode: 'INLINE', subtasks: 2 },
  });
  const store = {
    getJobAndSubtasks: () => Promise.resolve({ job, subtasks }),
    getDatasetItem: () => Promise.resolve(undefined),
    putResult: (_ref, result: SubtaskResult) => {
      log.push(`result ${result.subtaskId}`);
      return Promise.resolve();
    },
  } as Partial<JobStore> as JobStore;
  const recorder = {
    nextAttempt: () => Promise.resolve(1),
    recordStep: (_ref, step) => {
      log.push(`step ${step.step} asked`);
      return new Promise<void>((resolve, reject) => {
        pending.push({
          step,
          settle: (error) => {
            log.push(`step ${step.step} ${error ? 'failed' : 'stored'}`);
            if (error) reject(error);
            else resolve();
          },
        });
      });
    },
    finishAgent: (_ref, agent) => {
      log.push(`agent ${agent.status}`);
      agents.push(agent);
      return Promise.resolve();
    },
  } as Partial<StepRecorder> as StepRecorder;
  return { store, recorder, log, agents, pending };
}

/** Lets every promise callback queued so far run (several turns of the event loop). */
const turns = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('runSubagent and its step records', () => {
  it('goes on after an answer while its step record is on its way, and ends once every record is stored', async () => {
    // Prepare
    const job = memoryJob();
    let ended = false;
    // Act: two subtasks answered; no step record stored yet
    const run = runSubagent({ store: job.store, steps: job.recorder, llm, config }, input).then((out) => {
      ended = true;
      return out;
    });
    await turns();
    // Assess: the second call and the agent's record did not wait for the first step's record
    expect(job.log).toEqual(['step 1 asked', 'result S-1', 'step 2 asked', 'agent SUCCEEDED']);
    expect(ended).toBe(false);
    // Act: the records are stored
    for (const p of job.pending) p.settle();
    // Assess: the run ends only now
    await expect(run).resolves.toEqual({
      agentId: 'agent-0001',
      status: 'SUCCEEDED',
      answered: 2,
      failed: 0,
    });
    expect(ended).toBe(true);
  });

  it('fails the agent when a step record cannot be stored, and says why', async () => {
    // Prepare
    const job = memoryJob();
    // Act
    const run = runSubagent({ store: job.store, steps: job.recorder, llm, config }, input);
    run.catch(() => undefined);
    await turns();
    job.pending[0]?.settle(new Error('the table is gone'));
    job.pending[1]?.settle();
    // Assess: the handler fails (the Map retries it) and the agent's last record is FAILED
    await expect(run).rejects.toThrow('the table is gone');
    expect(job.agents.map((a) => a.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(job.agents[1]?.error).toBe('the table is gone');
  });
});

describe('runSubagent and the ledger', () => {
  it("authorizes a call only once the call before is paid for, and stores its agent's record beside the last payment", async () => {
    // Prepare: every completion waits until the test lets it go
    const job = memoryJob();
    const completions: (() => void)[] = [];
    const ledger = {
      authorizeCall: () => {
        job.log.push('authorize');
        return Promise.resolve(1);
      },
      completeCall: () => {
        job.log.push('complete asked');
        return new Promise<undefined>((resolve) => {
          completions.push(() => {
            job.log.push('complete stored');
            resolve(undefined);
          });
        });
      },
    } as unknown as BudgetLedger;
    let ended = false;

    // Act: the first call answered, its completion held
    const run = runSubagent({ store: job.store, steps: job.recorder, llm, ledger, config }, input).then(
      (out) => {
        ended = true;
        return out;
      },
    );
    await turns();

    // Assess: no second authorization before the first call is paid for
    expect(job.log).toEqual(['authorize', 'step 1 asked', 'complete asked', 'result S-1']);

    // Act: the first completion lands; the second call runs
    completions[0]?.();
    await turns();

    // Assess: the agent's record did not wait for the last completion, the run does
    expect(job.log.slice(4)).toEqual([
      'complete stored',
      'authorize',
      'step 2 asked',
      'complete asked',
      'agent SUCCEEDED',
    ]);
    expect(ended).toBe(false);
    for (const p of job.pending) p.settle();
    completions[1]?.();
    await expect(run).resolves.toMatchObject({ status: 'SUCCEEDED', answered: 2 });
  });

  it('fails the agent when a completion cannot be stored', async () => {
    // Prepare
    const job = memoryJob();
    const ledger = {
      authorizeCall: () => Promise.resolve(1),
      completeCall: () => Promise.reject(new Error('the ledger is gone')),
    } as unknown as BudgetLedger;

    // Act
    const run = runSubagent({ store: job.store, steps: job.recorder, llm, ledger, config }, input);
    run.catch(() => undefined);
    await turns();
    for (const p of job.pending) p.settle();

    // Assess: the second call was never made; the agent is FAILED with the reason
    await expect(run).rejects.toThrow('the ledger is gone');
    expect(job.log.filter((l) => l.endsWith('asked'))).toEqual(['step 1 asked']);
    expect(job.agents.map((a) => a.status)).toEqual(['FAILED']);
    expect(job.agents[0]?.error).toBe('the ledger is gone');
  });
});
