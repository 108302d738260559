import { describe, expect, it } from 'vitest';
import type { JobStore, StepRecorder } from '#shared/ports/job-store';
import type { ChatRequest, LlmClient } from '#shared/ports/llm';
import { subagentSettings } from '#shared/use-cases/plan-stage';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { config, input, llm, runningJob, subtasks } from './subagent-fixtures';

const budget = (n: number) => ({ fullBudget: 1000, budget: n, reduced: n < 1000, reason: 'test' });

/** A sub-agent's parts in memory: the requests its model got, and how often it read the job. */
function parts(job = runningJob({ plan: { budget: budget(40) } })) {
  const asked: ChatRequest[] = [];
  let reads = 0;
  const store = {
    getJobAndSubtasks: (_ref, ids: readonly string[]) => {
      reads += 1;
      return Promise.resolve({ job, subtasks: subtasks.filter((s) => ids.includes(s.id)) });
    },
    putResult: () => Promise.resolve(),
  } as Partial<JobStore> as JobStore;
  const steps = {
    nextAttempt: () => Promise.resolve(1),
    recordStep: () => Promise.resolve(),
    finishAgent: () => Promise.resolve(),
  } as Partial<StepRecorder> as StepRecorder;
  const model: LlmClient = {
    ...llm,
    chat: (request) => {
      asked.push(request);
      return llm.chat(request);
    },
  };
  return { deps: { store, steps, llm: model, config }, asked, reads: () => reads };
}

describe('subagentSettings', () => {
  it('takes the plan’s budget over the request’s, and the plan’s deadline', () => {
    const request = { workload: 'generic' as const, maxOutputTokens: 500 };
    expect(subagentSettings(request, { budget: budget(40), deadlineAt: '2026-12-07T06:00:00.000Z' })).toEqual(
      {
        workload: 'generic',
        maxOutputTokens: 40,
        deadlineAt: '2026-12-07T06:00:00.000Z',
      },
    );
    expect(subagentSettings(request, {})).toEqual({ workload: 'generic', maxOutputTokens: 500 });
    expect(subagentSettings({ workload: 'bma-compliance' }, undefined)).toEqual({
      workload: 'bma-compliance',
    });
  });
});

describe('runSubagent and what it needs of its job', () => {
  it('reads nothing before its calls when its input carries its subtasks and the plan’s settings', async () => {
    // Prepare: the stored job's budget (40) differs from the carried one (25)
    const { deps, asked, reads } = parts();
    const carried = { ...input, subtasks, settings: { workload: 'generic' as const, maxOutputTokens: 25 } };
    // Act
    const out = await runSubagent(deps, carried);
    // Assess
    expect(out).toMatchObject({ status: 'SUCCEEDED', answered: 2 });
    expect(reads()).toBe(0);
    expect(asked.map((r) => r.maxTokens)).toEqual([25, 25]);
  });

  it('reads the job once when the input carries no settings (a plan from before them), its subtasks or not', async () => {
    for (const given of [{ ...input, subtasks }, input]) {
      const { deps, asked, reads } = parts();
      await expect(runSubagent(deps, given)).resolves.toMatchObject({ status: 'SUCCEEDED', answered: 2 });
      expect(reads()).toBe(1);
      expect(asked.map((r) => r.maxTokens)).toEqual([40, 40]);
    }
  });

  it('reads its subtasks (and the job with them) when the input carries settings but not the subtasks', async () => {
    const { deps, asked, reads } = parts();
    const out = await runSubagent(deps, { ...input, settings: { workload: 'generic', maxOutputTokens: 25 } });
    expect(out).toMatchObject({ status: 'SUCCEEDED', answered: 2 });
    expect(reads()).toBe(1);
    // The job read is the one source then: its plan's budget.
    expect(asked.map((r) => r.maxTokens)).toEqual([40, 40]);
  });

  it('stops at the carried deadline', async () => {
    const { deps, asked } = parts();
    const past = new Date(Date.now() - 1_000).toISOString();
    const out = await runSubagent(deps, {
      ...input,
      subtasks,
      settings: { workload: 'generic', deadlineAt: past },
    });
    expect(out).toMatchObject({ status: 'FAILED', answered: 0 });
    expect(asked).toEqual([]);
  });
});
