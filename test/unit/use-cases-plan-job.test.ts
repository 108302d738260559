import { describe, expect, it } from 'vitest';
import { NotFoundError, PlanError } from '#shared/domain/errors';
import { plannerSystemPrompt } from '#shared/domain/prompts';
import type { StepRecord, Subtask } from '#shared/domain/types';
import type { AgentRecord, JobRecord, JobRef, JobStore, StepRecorder } from '#shared/ports/job-store';
import type { ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';
import { MAX_DECOMPOSED_SUBTASKS, type PlanDeps, planJob } from '#shared/use-cases/plan-job';

const REF: JobRef = { tenantId: 't1', jobId: 'j1' };
const ACCEPTED_AT = '2026-12-03T00:00:00.000Z';
const job = (fields: Partial<JobRecord> = {}): JobRecord => ({
  ...REF,
  status: 'ACCEPTED',
  request: { task: 'check the three contracts', mode: 'parl', workload: 'generic' } as JobRecord['request'],
  acceptedAt: ACCEPTED_AT,
  ...fields,
});
const reply = (content: string | null): ChatResponse => ({
  content,
  toolCalls: [],
  finishReason: 'stop',
  model: 'kimi-k2.5',
  usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0 },
});
const decomposition = (...prompts: string[]) =>
  JSON.stringify({ subtasks: prompts.map((prompt) => ({ prompt })) });

/**
 * A job store, step recorder and model in memory: `stored` is the job (none: not found), `given`
 * the request's subtasks, `replies` what the model answers in turn.
 */
function world(opts: { stored?: JobRecord; given?: Subtask[]; replies?: (string | null)[] } = {}) {
  const seen = {
    asked: [] as ChatRequest[],
    put: [] as Subtask[][],
    updates: [] as Partial<JobRecord>[],
    attempts: [] as unknown[][],
    finished: [] as [AgentRecord, unknown][],
    steps: [] as StepRecord[],
  };
  const replies = [...(opts.replies ?? [])];
  const store = {
    getJob: () => Promise.resolve(opts.stored),
    listSubtasks: () => Promise.resolve(opts.given ?? []),
    putSubtasks: (_ref: JobRef, subtasks: Subtask[]) => {
      seen.put.push(subtasks);
      return Promise.resolve();
    },
    updateJob: (_ref: JobRef, patch: Partial<JobRecord>) => {
      seen.updates.push(patch);
      return Promise.resolve();
    },
  } as unknown as JobStore;
  const steps = {
    nextAttempt: (...args: unknown[]) => {
      seen.attempts.push(args.slice(1));
      return Promise.resolve(3);
    },
    recordStep: (_ref: JobRef, s: StepRecord) => {
      seen.steps.push(s);
      return Promise.resolve();
    },
    finishAgent: (_ref: JobRef, agent: AgentRecord, role: unknown) => {
      seen.finished.push([agent, role]);
      return Promise.resolve();
    },
  } as unknown as StepRecorder;
  const llm: LlmClient = {
    model: 'kimi-k2.5',
    chat: (request) => {
      // The messages array grows after the call: keep what it held then.
      seen.asked.push({ ...request, messages: [...request.messages] });
      return Promise.resolve(reply(replies.shift() ?? null));
    },
  };
  const deps: PlanDeps = { store, steps, llm, config: { defaultMaxSubagents: 4 } };
  return { deps, seen };
}

describe('planJob', () => {
  it('refuses a job it cannot find with NotFoundError naming it', async () => {
    const { deps } = world();
    const error = await planJob(deps, { tenantId: 't1', jobId: 'j9' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('job j9 not found');
  });

  it.each(['CANCELLED', 'SUCCEEDED', 'FAILED'] as const)('does not plan a %s job again', async (status) => {
    const { deps, seen } = world({ stored: job({ status }), given: [{ id: 'a', prompt: 'p' }] });
    const error = await planJob(deps, REF).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlanError);
    expect((error as Error).message).toBe(`job j1 is ${status}; it is not planned again`);
    expect(seen.updates).toEqual([]);
  });

  it.each(['ACCEPTED', 'RUNNING'] as const)(
    'plans a %s job’s own subtasks without a model call, and marks it RUNNING',
    async (status) => {
      // Prepare
      const given = [
        { id: 'a', prompt: 'first' },
        { id: 'b', prompt: 'second' },
      ];
      const { deps, seen } = world({ stored: job({ status }), given });
      // Act
      const output = await planJob(deps, REF);
      // Assess
      expect(seen.asked).toEqual([]);
      expect(seen.put).toEqual([]);
      expect(output).toMatchObject({ ...REF, stage: 1, mapMode: 'INLINE', maxConcurrency: 2 });
      expect(output.agents?.map((a) => a.subtaskIds)).toEqual([['a'], ['b']]);
      expect(seen.updates).toHaveLength(1);
      const update = seen.updates[0];
      expect(update?.status).toBe('RUNNING');
      expect(update?.plan).toStrictEqual({
        stage: 1,
        agents: 2,
        maxConcurrency: 2,
        mapMode: 'INLINE',
        subtasks: 2,
        decomposedBy: 'request',
        itemsPerAgent: 1,
        budget: expect.objectContaining({ reduced: false }),
      });
    },
  );

  it('records what bound the width and the deadline inside the execution’s timeout', async () => {
    const given = ['a', 'b', 'c'].map((id) => ({ id, prompt: id }));
    const { deps, seen } = world({ stored: job(), given });
    deps.config = {
      defaultMaxSubagents: 4,
      cloud: { subagentConcurrency: 2, executionTimeoutMs: 60 * 60_000 },
    };
    const output = await planJob(deps, REF);
    expect(output.maxConcurrency).toBe(2);
    // An hour after acceptance, less the 5 minutes kept for Aggregate.
    expect(seen.updates[0]?.plan).toMatchObject({
      widthBoundBy: 'reserved-concurrency',
      deadlineAt: '2026-12-03T00:55:00.000Z',
    });
  });

  it('reads the free slots while the job and its subtasks load, once, and bounds the width by them', async () => {
    // Prepare: the job's read answers only once the slots have been asked for
    const given = ['a', 'b', 'c', 'd'].map((id) => ({ id, prompt: id }));
    const { deps, seen } = world({ stored: job(), given });
    const asked: string[] = [];
    const slotsAsked = Promise.withResolvers<void>();
    const getJob = deps.store.getJob.bind(deps.store);
    deps.store.getJob = async (ref) => {
      asked.push('job');
      await slotsAsked.promise;
      return getJob(ref);
    };
    deps.slots = {
      freeSlots: () => {
        asked.push('slots');
        slotsAsked.resolve();
        return Promise.resolve(3);
      },
    };
    // Act
    const output = await planJob(deps, REF);
    // Assess
    expect(asked).toEqual(['slots', 'job']);
    expect(output.maxConcurrency).toBe(3);
    expect(seen.updates[0]?.plan).toMatchObject({ widthBoundBy: 'free-slots' });
  });

  it('reads the free slots again after a decomposition (the first read is a model call old)', async () => {
    // Prepare: 4 free slots at the start, 1 once the planner has answered
    const { deps } = world({ stored: job(), replies: [decomposition('a', 'b', 'c')] });
    const free = [4, 1];
    let reads = 0;
    deps.slots = { freeSlots: () => Promise.resolve(free[reads++] ?? 1) };
    // Act
    const output = await planJob(deps, REF);
    // Assess
    expect(reads).toBe(2);
    expect(output.maxConcurrency).toBe(1);
  });

  it('decomposes a task that came without subtasks with one planner call, and stores the subtasks', async () => {
    // Prepare
    const { deps, seen } = world({
      stored: job(),
      replies: [`Here you go: ${decomposition('read contract A', 'read contract B', 'compare them')}`],
    });
    // Act
    const output = await planJob(deps, REF);
    // Assess
    const subtasks = [
      { id: 'S-0001', prompt: 'read contract A' },
      { id: 'S-0002', prompt: 'read contract B' },
      { id: 'S-0003', prompt: 'compare them' },
    ];
    expect(seen.put).toEqual([subtasks]);
    expect(output.agents?.flatMap((a) => a.subtaskIds)).toEqual(['S-0001', 'S-0002', 'S-0003']);
    expect(seen.asked).toHaveLength(1);
    expect(seen.asked[0]).toMatchObject({
      messages: [
        { role: 'system', content: plannerSystemPrompt(MAX_DECOMPOSED_SUBTASKS) },
        { role: 'user', content: 'check the three contracts' },
      ],
      json: true,
      maxTokens: 4000,
      caller: { role: 'orchestrator', tenantId: 't1' },
    });
    expect(seen.attempts).toEqual([[1, 'main', 'planner']]);
    expect(seen.steps.map((s) => [s.role, s.agentId, s.step, s.attempt, s.stage])).toEqual([
      ['main', 'planner', 1, 3, 1],
    ]);
    expect(seen.finished).toEqual([
      [
        { stage: 1, agentId: 'planner', status: 'SUCCEEDED', attempt: 3, stepCount: 1, subtaskIds: [] },
        'main',
      ],
    ]);
    expect(seen.updates[0]?.plan).toMatchObject({ subtasks: 3, decomposedBy: 'orchestrator' });
  });

  it('gives the planner one repair turn with its reply and what was wrong with it', async () => {
    const { deps, seen } = world({ stored: job(), replies: [null, decomposition('only one')] });
    await planJob(deps, REF);
    expect(seen.asked).toHaveLength(2);
    expect(seen.asked[1]?.messages.slice(2)).toEqual([
      { role: 'assistant', content: '' },
      {
        role: 'user',
        content:
          'That was not valid: no JSON object in the reply. Reply with JSON only: {"subtasks": [{"prompt": "..."}]}.',
      },
    ]);
    expect(seen.steps.map((s) => s.step)).toEqual([1, 2]);
    expect(seen.finished[0]?.[0]).toMatchObject({ status: 'SUCCEEDED', stepCount: 2 });
    expect(seen.put).toEqual([[{ id: 'S-0001', prompt: 'only one' }]]);
  });

  it('fails with PlanError after two invalid replies, recording the planner FAILED, and plans nothing', async () => {
    // Prepare
    const { deps, seen } = world({ stored: job(), replies: ['no idea', '{"subtasks": []}'] });
    // Act
    const error = await planJob(deps, REF).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(PlanError);
    expect((error as Error).message).toMatch(
      /^the orchestrator returned no valid decomposition after 2 model calls: .*subtasks/s,
    );
    expect(seen.asked[1]?.messages.slice(2, 3)).toEqual([{ role: 'assistant', content: 'no idea' }]);
    expect(seen.finished).toEqual([
      [{ stage: 1, agentId: 'planner', status: 'FAILED', attempt: 3, stepCount: 2, subtaskIds: [] }, 'main'],
    ]);
    expect(seen.put).toEqual([]);
    expect(seen.updates).toEqual([]);
  });

  it('keeps the first 500 characters of a long problem, in the repair turn and in the error', async () => {
    // 40 empty prompts: one validation issue each make a long message.
    const long = decomposition(...Array.from({ length: 40 }, () => ''));
    const { deps, seen } = world({ stored: job(), replies: [long, long] });
    const error = (await planJob(deps, REF).catch((e: unknown) => e)) as Error;
    const prefix = 'the orchestrator returned no valid decomposition after 2 model calls: ';
    expect(error.message.startsWith(prefix)).toBe(true);
    expect(error.message.length).toBe(prefix.length + 500);
    const problem = error.message.slice(prefix.length);
    expect(seen.asked[1]?.messages[3]).toEqual({
      role: 'user',
      content: `That was not valid: ${problem}. Reply with JSON only: {"subtasks": [{"prompt": "..."}]}.`,
    });
  });
});
