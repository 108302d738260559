import { describe, expect, it } from 'vitest';
import type { StepRecord } from '#shared/domain/types';
import type { AgentRecord, JobStore, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { LlmClient } from '#shared/ports/llm';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { config, input, runningJob, subtasks, llm as yes } from './subagent-fixtures';

const turn = () => new Promise((r) => setImmediate(r));

/** A sub-agent whose attempt count the test ends, and what its ledger, model and records saw. */
function world() {
  const events: string[] = [];
  const count = Promise.withResolvers<number>();
  const steps: StepRecord[] = [];
  const agents: AgentRecord[] = [];
  const store = {
    getJobAndSubtasks: () => Promise.resolve({ job: runningJob(), subtasks }),
    getDatasetItem: () => Promise.resolve(undefined),
    putResult: () => Promise.resolve(),
  } as Partial<JobStore> as JobStore;
  const recorder = {
    nextAttempt: () => count.promise,
    recordStep: (_ref: unknown, step: StepRecord) => {
      steps.push(step);
      return Promise.resolve();
    },
    finishAgent: (_ref: unknown, agent: AgentRecord) => {
      agents.push(agent);
      return Promise.resolve();
    },
  } as Partial<StepRecorder> as StepRecorder;
  const ledger = {
    authorizeCall: () => {
      events.push('authorize');
      return Promise.resolve(0.01);
    },
    completeCall: () => Promise.resolve(undefined),
  } as Partial<BudgetLedger> as BudgetLedger;
  const llm: LlmClient = {
    model: 'sim',
    chat: (request) => {
      events.push('call');
      return yes.chat(request);
    },
  };
  return { deps: { store, steps: recorder, llm, ledger, config }, events, count, steps, agents };
}

describe('runSubagent while its invocation is still being counted', () => {
  it('asks the ledger for its first call meanwhile, calls once counted, and records the count', async () => {
    const w = world();
    const run = runSubagent(w.deps, input);
    await turn();
    expect(w.events).toEqual(['authorize']);
    w.count.resolve(2);
    const out = await run;
    expect(out.status).toBe('SUCCEEDED');
    expect(w.events).toEqual(['authorize', 'call', 'authorize', 'call']);
    expect(w.steps.map((s) => s.attempt)).toEqual([2, 2]);
    expect(w.agents.map((a) => [a.status, a.attempt])).toEqual([['SUCCEEDED', 2]]);
  });

  it('makes no call when the count fails, and fails with its error', async () => {
    const w = world();
    const run = runSubagent(w.deps, input);
    w.count.reject(new Error('attempt counter gone'));
    await expect(run).rejects.toThrow('attempt counter gone');
    expect(w.events).not.toContain('call');
    expect(w.steps).toEqual([]);
  });
});
