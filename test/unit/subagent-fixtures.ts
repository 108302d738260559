import type { JobRecord } from '#shared/ports/job-store';
import type { LlmClient } from '#shared/ports/llm';

/** What the sub-agent tests share: a job's reference, two subtasks, their input, a small budget. */
export const ref = { tenantId: 't-a', jobId: 'job-1' };
export const subtasks = [
  { id: 'S-1', prompt: 'first', expected: 'yes' },
  { id: 'S-2', prompt: 'second', expected: 'yes' },
];
export const input = { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: subtasks.map((s) => s.id) };
export const config = { subagentStepBudget: 3, maxOutputTokens: 100 };

/** A model that answers "yes" at once. */
export const llm: LlmClient = {
  model: 'sim',
  chat: () =>
    Promise.resolve({
      content: 'yes',
      toolCalls: [],
      finishReason: 'stop',
      model: 'sim',
      usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 0 },
    }),
};

/** A running job of the generic workload, with whatever else a test gives it (a plan). */
export const runningJob = (extra: Record<string, unknown> = {}): JobRecord =>
  ({
    ...ref,
    status: 'RUNNING',
    acceptedAt: new Date().toISOString(),
    request: { task: 'Questions', workload: 'generic', mode: 'parl' },
    ...extra,
  }) as unknown as JobRecord;
