import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEADLINE_REASON } from '#shared/domain/deadline';
import { NotFoundError } from '#shared/domain/errors';
import type { Subtask } from '#shared/domain/types';
import type { AgentRecord, JobStore, StepRecorder, SubtaskResult } from '#shared/ports/job-store';
import type { ChatRequest, LlmClient } from '#shared/ports/llm';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { ref, runningJob } from './subagent-fixtures';

const stored: Subtask[] = [
  { id: 'S-1', prompt: 'first', expected: 'yes' },
  { id: 'S-2', prompt: 'second' },
];
const input = { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['S-1', 'S-2'] };
const config = { subagentStepBudget: 2, maxOutputTokens: 100 };

interface WorldOptions {
  /** The job's own fields over the default (`null`: no job stored). */
  job?: Record<string, unknown> | null;
  /** What the model replies to every call. */
  reply?: string;
  /** Why the agent's record cannot be stored, if it cannot. */
  finishFails?: Error;
}

/**
 * A job in memory: the stored subtasks (only those asked for), the results and agent records
 * written, the invocations counted per stage, role and agent (this agent's sub role already ran
 * once), and a model that logs what it was asked.
 */
function world(options: WorldOptions = {}) {
  const results: SubtaskResult[] = [];
  const agents: AgentRecord[] = [];
  const asked: ChatRequest[] = [];
  const counted = new Map<string, number>([['1/sub/agent-0001', 1]]);
  const job = options.job === null ? undefined : runningJob(options.job);
  const store = {
    getJobAndSubtasks: (_ref, ids) =>
      Promise.resolve({ job, subtasks: stored.filter((s) => ids.includes(s.id)) }),
    getDatasetItem: () => Promise.resolve(undefined),
    putResult: (_ref, result) => {
      results.push(result);
      return Promise.resolve();
    },
  } as Partial<JobStore> as JobStore;
  const steps = {
    nextAttempt: (_ref, stage, role, agentId) => {
      const key = `${stage}/${role}/${agentId}`;
      counted.set(key, (counted.get(key) ?? 0) + 1);
      return Promise.resolve(counted.get(key) ?? 0);
    },
    recordStep: () => Promise.resolve(),
    finishAgent: (_ref, agent, _role, last = []) => {
      agents.push(agent);
      if (options.finishFails) return Promise.reject(options.finishFails);
      results.push(...last);
      return Promise.resolve();
    },
  } as Partial<StepRecorder> as StepRecorder;
  const llm: LlmClient = {
    model: 'sim',
    chat: (request) => {
      asked.push(request);
      return Promise.resolve({
        content: options.reply ?? 'yes',
        toolCalls: [],
        finishReason: 'stop',
        model: 'sim',
        usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 0 },
      });
    },
  };
  return { deps: { store, steps, llm, config }, results, agents, asked, counted };
}

describe('runSubagent: its summary and its agent record', () => {
  it('succeeds with no error when every subtask is answered, as the next attempt of this sub-agent', async () => {
    const w = world();
    const out = await runSubagent(w.deps, input);
    expect(out).toEqual({ agentId: 'agent-0001', status: 'SUCCEEDED', answered: 2, failed: 0 });
    expect(w.agents).toHaveLength(1);
    expect(w.agents[0]).toMatchObject({ status: 'SUCCEEDED', attempt: 2, stepCount: 2 });
    expect(w.agents[0]).not.toHaveProperty('error');
    expect([...w.counted]).toEqual([['1/sub/agent-0001', 2]]);
  });

  it('fails, saying how many of how many, when no reply can be used', async () => {
    const w = world({ reply: '   ' });
    const out = await runSubagent(w.deps, input);
    expect(out).toEqual({ agentId: 'agent-0001', status: 'FAILED', answered: 0, failed: 2 });
    expect(w.agents).toHaveLength(1);
    expect(w.agents[0]?.status).toBe('FAILED');
    expect(w.agents[0]?.error).toBe('2 of 2 subtasks got no usable answer');
  });

  it('counts an assigned subtask that is not stored as not answered', async () => {
    const w = world();
    const out = await runSubagent(w.deps, { ...input, subtaskIds: ['S-1', 'S-9', 'S-2'] });
    expect(out).toEqual({ agentId: 'agent-0001', status: 'FAILED', answered: 2, failed: 1 });
    expect(w.agents[0]?.status).toBe('FAILED');
    expect(w.agents[0]?.error).toBe('1 of 3 subtasks got no usable answer');
    expect(w.results.map((r) => [r.subtaskId, r.status])).toEqual([
      ['S-1', 'ANSWERED'],
      ['S-2', 'ANSWERED'],
    ]);
  });

  it('throws NotFoundError naming the job when it is not stored, and writes nothing', async () => {
    const w = world({ job: null });
    const run = runSubagent(w.deps, input);
    await expect(run).rejects.toBeInstanceOf(NotFoundError);
    await expect(run).rejects.toThrow('job job-1 not found');
    expect(w.asked).toEqual([]);
    expect(w.results).toEqual([]);
    expect(w.agents).toEqual([]);
  });

  it('fails when its agent record cannot be stored', async () => {
    const w = world({ finishFails: new Error('the table is gone') });
    await expect(runSubagent(w.deps, input)).rejects.toThrow('the table is gone');
    expect(w.agents.map((a) => a.status)).toEqual(['SUCCEEDED', 'FAILED']);
  });
});

describe('runSubagent: the output tokens of its calls', () => {
  const cases: [string, { budget?: number; maxOutputTokens?: number }, number][] = [
    ["the plan's budget first", { budget: 50, maxOutputTokens: 70 }, 50],
    ["else the request's", { maxOutputTokens: 70 }, 70],
    ['else the configured', {}, 100],
  ];
  it.each(cases)('takes %s', async (_case, { budget, maxOutputTokens }, expected) => {
    const request = { task: 'Questions', workload: 'generic', mode: 'parl', maxOutputTokens };
    const w = world({ job: { request, ...(budget === undefined ? {} : { plan: { budget: { budget } } }) } });
    await runSubagent(w.deps, input);
    expect(w.asked.map((r) => r.maxTokens)).toEqual([expected, expected]);
  });
});

describe('runSubagent at a deadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stores the subtasks left FAILED with the reason, scored wrong only where there is a truth', async () => {
    const w = world();
    const at = Date.now() - 1;
    const out = await runSubagent(w.deps, input, { lambdaDeadlineAt: at, stopMarginMs: 0 });
    expect(out).toEqual({ agentId: 'agent-0001', status: 'FAILED', answered: 0, failed: 2 });
    const reason = `${DEADLINE_REASON} ${new Date(at).toISOString()}`;
    const unfinished = { agentId: 'agent-0001', stage: 1, status: 'FAILED', error: reason };
    expect(w.results).toStrictEqual([
      { subtaskId: 'S-1', ...unfinished, expected: 'yes', correct: false },
      { subtaskId: 'S-2', ...unfinished },
    ]);
    expect(w.asked).toEqual([]);
  });

  it('lets its deadline go when it ends before it: the calls it made are not aborted afterwards', async () => {
    vi.useFakeTimers();
    const w = world();
    const out = await runSubagent(w.deps, input, { lambdaDeadlineAt: Date.now() + 60_000, stopMarginMs: 0 });
    expect(out.status).toBe('SUCCEEDED');
    vi.advanceTimersByTime(120_000);
    expect(w.asked.map((r) => r.deadline?.signal.aborted)).toEqual([false, false]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
