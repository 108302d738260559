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
const job = runningJob();

/** A job in memory that logs which subtasks were read, and a model that logs what it was asked. */
function world() {
  const read: string[][] = [];
  const asked: string[] = [];
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
      return Promise.resolve({
        content: 'yes',
        toolCalls: [],
        finishReason: 'stop',
        model: 'sim',
        usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 0 },
      });
    },
  };
  return { deps: { store, steps, llm, config }, read, asked };
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
