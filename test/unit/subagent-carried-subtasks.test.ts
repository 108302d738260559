import { describe, expect, it } from 'vitest';
import type { Subtask } from '#shared/domain/types';
import type { JobStore, StepRecorder } from '#shared/ports/job-store';
import type { LlmClient } from '#shared/ports/llm';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { config, ref, runningJob } from './subagent-fixtures';

const stored: Subtask[] = [
  { id: 'S-1', prompt: 'stored first', expected: 'yes' },
  { id: 'S-2', prompt: 'stored second', expected: 'yes' },
];
/** The stored job's plan gave its sub-agents 40 output tokens a call. */
const job = runningJob({ plan: { budget: { fullBudget: 1000, budget: 40, reduced: true, reason: 'test' } } });

/** A job in memory that logs which subtasks were read, and a model that logs what it was asked (and its budget). */
function world() {
  const read: string[][] = [];
  const asked: string[] = [];
  const budgets: (number | undefined)[] = [];
  const store = {
    getJobAndSubtasks: (_ref: unknown, ids: readonly string[]) => {
      read.push([...ids]);
      return Promise.resolve({ job, subtasks: stored.filter((s) => ids.includes(s.id)) });
    },
    getDatasetItem: () => Promise.resolve(undefined),
    putResult: () => Promise.resolve(),
  } as Partial<JobStore> as JobStore;
  const steps = {
    nextAttempt: () => Promise.resolve(1),
    recordStep: () => Promise.resolve(),
    finishAgent: () => Promise.resolve(),
  } as Partial<StepRecorder> as StepRecorder;
  const llm: LlmClient = {
    model: 'sim',
    chat: (request) => {
      asked.push(request.messages.map((m) => m.content).join('\n'));
      budgets.push(request.maxTokens);
      return Promise.resolve({
        content: 'yes',
        toolCalls: [],
        finishReason: 'stop',
        model: 'sim',
        usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 0 },
      });
    },
  };
  return { deps: { store, steps, llm, config }, read, asked, budgets };
}

const input = { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['S-2', 'S-1'] };

describe('runSubagent with the subtasks its Map item carries', () => {
  it('reads only the job and works on the carried subtasks, in the order assigned', async () => {
    const { deps, read, asked } = world();
    const carried = [
      { id: 'S-1', prompt: 'carried first', expected: 'yes' },
      { id: 'S-2', prompt: 'carried second', expected: 'yes' },
    ];
    const out = await runSubagent(deps, { ...input, subtasks: carried });
    expect(read).toEqual([[]]);
    expect(asked).toHaveLength(2);
    expect(asked[0]).toContain('carried second');
    expect(asked[1]).toContain('carried first');
    expect(out).toMatchObject({ status: 'SUCCEEDED', answered: 2, failed: 0 });
  });

  it.each([
    ['none', []],
    ['only some of its subtasks', [{ id: 'S-1', prompt: 'carried first' }]],
  ])('reads its subtasks when the item carries %s', async (_case, carried) => {
    const { deps, read, asked } = world();
    const out = await runSubagent(deps, { ...input, subtasks: carried });
    expect(read).toEqual([['S-2', 'S-1']]);
    expect(asked.join('\n')).toContain('stored first');
    expect(asked.join('\n')).not.toContain('carried');
    expect(out).toMatchObject({ status: 'SUCCEEDED', answered: 2 });
  });
});

describe('runSubagent with the plan’s settings its Map item carries', () => {
  const carried = stored.map((s) => ({ ...s, prompt: s.prompt.replace('stored', 'carried') }));
  const settings = { workload: 'generic' as const, maxOutputTokens: 25 };

  it('reads nothing before its calls when the item carries its subtasks and the settings', async () => {
    const { deps, read, budgets } = world();
    const out = await runSubagent(deps, { ...input, subtasks: carried, settings });
    expect(out).toMatchObject({ status: 'SUCCEEDED', answered: 2 });
    expect(read).toEqual([]);
    // The carried budget (25), not the stored job's (40).
    expect(budgets).toEqual([25, 25]);
  });

  it('reads the job (with its subtasks when the item lacks them) when the item carries no settings: a plan from before', async () => {
    for (const [subtasks, wanted] of [
      [carried, []],
      [[], ['S-2', 'S-1']],
    ] as const) {
      const { deps, read, budgets } = world();
      await expect(runSubagent(deps, { ...input, subtasks: [...subtasks] })).resolves.toMatchObject({
        status: 'SUCCEEDED',
        answered: 2,
      });
      expect(read).toEqual([wanted]);
      expect(budgets).toEqual([40, 40]);
    }
  });

  it('reads its subtasks and the job with them when the item carries the settings but not the subtasks', async () => {
    const { deps, read, budgets } = world();
    await expect(runSubagent(deps, { ...input, subtasks: [], settings })).resolves.toMatchObject({
      status: 'SUCCEEDED',
    });
    expect(read).toEqual([['S-2', 'S-1']]);
    // One source then: the job as read.
    expect(budgets).toEqual([40, 40]);
  });

  it('stops at the carried deadline', async () => {
    const { deps, asked } = world();
    const deadlineAt = new Date(Date.now() - 1_000).toISOString();
    const out = await runSubagent(deps, {
      ...input,
      subtasks: carried,
      settings: { ...settings, deadlineAt },
    });
    expect(out).toMatchObject({ status: 'FAILED', answered: 0 });
    expect(asked).toEqual([]);
  });
});
