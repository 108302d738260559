import { describe, expect, it } from 'vitest';
import type { Subtask } from '#shared/domain/types';
import { bmaSubtaskPrompt } from '#shared/domain/workloads/bma/prompts';
import { genericSubagentSystemPrompt } from '#shared/domain/workloads/generic/workload';
import type { JobStore, StepRecorder, SubtaskResult } from '#shared/ports/job-store';
import type { ChatMessage, ChatResponse, LlmClient, ToolCall } from '#shared/ports/llm';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { ref, runningJob } from './subagent-fixtures';

/** One reply of the model. */
const reply = (content: string | null, finishReason = 'stop', toolCalls: ToolCall[] = []): ChatResponse => ({
  content,
  toolCalls,
  finishReason,
  model: 'sim',
  usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 0 },
});

/**
 * Runs one sub-agent over `subtasks` of a job of `workload` in memory; the model gives the scripted
 * `replies` in turn. Returns every result stored (putResult, then the agent's record's), the
 * messages of each model call (as they were when sent) and the summary.
 */
async function run(options: {
  workload?: string;
  subtasks: Subtask[];
  replies: ChatResponse[];
  stepBudget?: number;
  /** What the store answers for any dataset item. */
  item?: unknown;
}) {
  const job = runningJob({
    request: { task: 'Questions', workload: options.workload ?? 'generic', mode: 'parl' },
  });
  const results: SubtaskResult[] = [];
  const asked: ChatMessage[][] = [];
  const store = {
    getJobAndSubtasks: () => Promise.resolve({ job, subtasks: options.subtasks }),
    getDatasetItem: () => Promise.resolve(options.item),
    putResult: (_ref, result: SubtaskResult) => {
      results.push(result);
      return Promise.resolve();
    },
  } as Partial<JobStore> as JobStore;
  const steps = {
    nextAttempt: () => Promise.resolve(1),
    recordStep: () => Promise.resolve(),
    finishAgent: (_ref, _agent, _role, last: readonly SubtaskResult[] = []) => {
      results.push(...last);
      return Promise.resolve();
    },
  } as Partial<StepRecorder> as StepRecorder;
  const replies = [...options.replies];
  const llm: LlmClient = {
    model: 'sim',
    chat: (request) => {
      asked.push(structuredClone(request.messages));
      const next = replies.shift();
      return next ? Promise.resolve(next) : Promise.reject(new Error('no reply scripted'));
    },
  };
  const config = { subagentStepBudget: options.stepBudget ?? 3, maxOutputTokens: 100 };
  const input = { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: options.subtasks.map((s) => s.id) };
  const out = await runSubagent({ store, steps, llm, config }, input);
  return { results, asked, out };
}

const toolCall: ToolCall = {
  id: 'call-1',
  type: 'function',
  function: { name: 'list_rules', arguments: '{}' },
};

/** A BMA verdict naming `installationId`. */
const verdict = (installationId: string, reasons: string[] = ['R1: overdue']) =>
  JSON.stringify({ installationId, verdict: 'non_compliant', reasons });

const bmaSubtask = { id: 'S-1', prompt: bmaSubtaskPrompt('BMA-0001'), expected: 'non_compliant' };

/** The stored result of subtask S-1 that got no usable answer (with whatever else it records). */
const failedS1 = (error: string, extra: Record<string, unknown> = {}) => ({
  subtaskId: 'S-1',
  agentId: 'agent-0001',
  stage: 1,
  status: 'FAILED',
  ...extra,
  error,
});

describe('runSubagent: the result of a generic subtask', () => {
  it('stores an answer without ground truth with no expected, correct or cut', async () => {
    const { results, out } = await run({ subtasks: [{ id: 'S-1', prompt: 'q' }], replies: [reply(' yes ')] });
    expect(results).toStrictEqual([
      { subtaskId: 'S-1', agentId: 'agent-0001', stage: 1, status: 'ANSWERED', answer: 'yes' },
    ]);
    expect(out).toEqual({ agentId: 'agent-0001', status: 'SUCCEEDED', answered: 1, failed: 0 });
  });

  it('stores the ground truth and whether the answer matches it', async () => {
    const { results } = await run({
      subtasks: [
        { id: 'S-1', prompt: 'q1', expected: 'Yes.' },
        { id: 'S-2', prompt: 'q2', expected: 'no' },
      ],
      replies: [reply('yes'), reply('yes')],
    });
    expect(results).toStrictEqual([
      {
        subtaskId: 'S-1',
        agentId: 'agent-0001',
        stage: 1,
        status: 'ANSWERED',
        answer: 'yes',
        expected: 'Yes.',
        correct: true,
      },
      {
        subtaskId: 'S-2',
        agentId: 'agent-0001',
        stage: 1,
        status: 'ANSWERED',
        answer: 'yes',
        expected: 'no',
        correct: false,
      },
    ]);
  });

  it('keeps the first 4000 characters of a long answer', async () => {
    const long = 'a'.repeat(4500);
    const { results } = await run({ subtasks: [{ id: 'S-1', prompt: 'q' }], replies: [reply(long)] });
    expect(results[0]?.answer).toBe('a'.repeat(4000));
  });

  it('marks a usable answer cut at the token limit as cut', async () => {
    const { results } = await run({
      subtasks: [{ id: 'S-1', prompt: 'q' }],
      replies: [reply('yes', 'length')],
    });
    expect(results).toStrictEqual([
      { subtaskId: 'S-1', agentId: 'agent-0001', stage: 1, status: 'ANSWERED', answer: 'yes', cut: true },
    ]);
  });

  it('does not take a reply without content as an answer', async () => {
    const { results, asked } = await run({
      subtasks: [{ id: 'S-1', prompt: 'q' }],
      replies: [reply(null), reply('yes')],
    });
    expect(asked[1]?.[2]).toEqual({ role: 'assistant', content: '' });
    expect(results).toMatchObject([{ status: 'ANSWERED', answer: 'yes' }]);
  });
});

describe('runSubagent: a subtask that gets no usable answer', () => {
  it('says no answer came when the step budget went on tool calls', async () => {
    const { results, out } = await run({
      workload: 'bma-compliance',
      subtasks: [{ id: 'S-1', prompt: bmaSubtaskPrompt('BMA-0001') }],
      replies: [reply(null, 'tool_calls', [toolCall])],
      stepBudget: 1,
    });
    expect(results).toStrictEqual([failedS1('step budget of 1 spent; last problem: no answer')]);
    expect(out).toEqual({ agentId: 'agent-0001', status: 'FAILED', answered: 0, failed: 1 });
  });

  it('stores why the last reply was unusable, with the ground truth and correct false', async () => {
    const { results } = await run({
      subtasks: [{ id: 'S-1', prompt: 'q', expected: 'yes' }],
      replies: [reply('  '), reply('', 'length')],
      stepBudget: 2,
    });
    expect(results).toStrictEqual([
      failedS1(
        'step budget of 2 spent; last problem: the answer was cut at the limit of 100 output tokens (finish_reason length): empty reply',
        { expected: 'yes', correct: false },
      ),
    ]);
  });

  it('stores an unusable reply that was not cut as unusable, with its finish reason', async () => {
    const { results } = await run({
      subtasks: [{ id: 'S-1', prompt: 'q' }],
      replies: [reply('')],
      stepBudget: 1,
    });
    expect(results).toStrictEqual([
      failedS1('step budget of 1 spent; last problem: unusable answer (stop): empty reply'),
    ]);
  });
});

describe('runSubagent: the result of a BMA subtask', () => {
  it('stores the verdict and its reasons, at most 20 of them, and whether the verdict is right', async () => {
    const reasons = Array.from({ length: 25 }, (_, i) => `R${i}: why`);
    const { results } = await run({
      workload: 'bma-compliance',
      subtasks: [bmaSubtask],
      replies: [reply(verdict('BMA-0001', reasons))],
    });
    expect(results).toStrictEqual([
      {
        subtaskId: 'S-1',
        agentId: 'agent-0001',
        stage: 1,
        status: 'ANSWERED',
        answer: verdict('BMA-0001', reasons),
        verdict: 'non_compliant',
        reasons: reasons.slice(0, 20),
        expected: 'non_compliant',
        correct: true,
      },
    ]);
  });

  it('does not take a verdict about another installation', async () => {
    const { results } = await run({
      workload: 'bma-compliance',
      subtasks: [bmaSubtask],
      replies: [reply(verdict('BMA-0002'))],
      stepBudget: 1,
    });
    expect(results).toMatchObject([{ status: 'FAILED', correct: false }]);
    expect(results[0]?.error).toContain("the verdict's installationId is not the installation named");
  });
});

describe('runSubagent: what the model is sent', () => {
  it('sends the system prompt, then the subtask', async () => {
    const { asked } = await run({ subtasks: [{ id: 'S-1', prompt: 'q' }], replies: [reply('yes')] });
    expect(asked).toEqual([
      [
        { role: 'system', content: genericSubagentSystemPrompt },
        { role: 'user', content: 'q' },
      ],
    ]);
  });

  it('sends back the tool-call turn and each tool output', async () => {
    const { asked, results } = await run({
      workload: 'bma-compliance',
      subtasks: [bmaSubtask],
      replies: [reply('checking', 'tool_calls', [toolCall]), reply(verdict('BMA-0001'))],
    });
    expect(asked[1]?.slice(2, 3)).toEqual([
      { role: 'assistant', content: 'checking', tool_calls: [toolCall] },
    ]);
    expect(asked[1]?.[3]).toMatchObject({ role: 'tool', tool_call_id: 'call-1' });
    expect(asked[1]).toHaveLength(4);
    expect(results).toMatchObject([{ status: 'ANSWERED', correct: true }]);
  });

  it('sends a tool output that is no JSON value as empty content', async () => {
    const getInstallation: ToolCall = {
      id: 'call-2',
      type: 'function',
      function: { name: 'get_installation', arguments: '{"installationId":"BMA-0001"}' },
    };
    const { asked } = await run({
      workload: 'bma-compliance',
      subtasks: [bmaSubtask],
      replies: [reply(null, 'tool_calls', [getInstallation]), reply(verdict('BMA-0001'))],
      item: () => 'not data',
    });
    expect(asked[1]?.[3]).toEqual({ role: 'tool', tool_call_id: 'call-2', content: '' });
  });

  it('sends back an unusable reply and asks again, saying why', async () => {
    const { asked } = await run({
      subtasks: [{ id: 'S-1', prompt: 'q' }],
      replies: [reply(' ', 'stop'), reply('', 'length'), reply('yes')],
    });
    expect(asked[2]?.slice(2)).toEqual([
      { role: 'assistant', content: ' ' },
      {
        role: 'user',
        content:
          'Your reply could not be used: unusable answer (stop): empty reply. Reply again in the required format.',
      },
      { role: 'assistant', content: '' },
      {
        role: 'user',
        content:
          'Your reply could not be used: the answer was cut at the limit of 100 output tokens (finish_reason length): empty reply. Reply again in the required format.',
      },
    ]);
  });
});
