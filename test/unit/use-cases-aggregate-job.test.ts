import { describe, expect, it } from 'vitest';
import { ProviderRejectedError } from '#shared/domain/errors';
import { synthesizerSystemPrompt } from '#shared/domain/prompts';
import type { JobRef } from '#shared/ports/job-store';
import {
  type AggregateDeps,
  aggregateJob,
  SYNTHESIS_MAX_LINES,
  tallyLine,
} from '#shared/use-cases/aggregate-job';
import {
  agent,
  answered,
  job,
  NEXT_STAGE,
  POLICY,
  REF,
  response,
  userContent,
  type WorldOptions,
  world,
} from './aggregate-fakes';

describe('aggregateJob: what it does not aggregate', () => {
  it('answers FAILED for a job it cannot find', async () => {
    const { deps, seen } = world();
    expect(await aggregateJob(deps, { tenantId: 't1', jobId: 'j9' })).toStrictEqual({
      jobId: 'j9',
      status: 'FAILED',
      error: 'job j9 not found',
    });
    expect(seen.finished).toEqual([]);
  });

  it('leaves a terminal job as it is but makes sure it was settled, with its error when it had one', async () => {
    const done = world({ stored: job({ status: 'SUCCEEDED' }) });
    expect(await aggregateJob(done.deps, REF)).toStrictEqual({ jobId: 'j1', status: 'SUCCEEDED' });
    expect(done.seen.settled).toEqual([REF]);
    const cancelled = world({ stored: job({ status: 'CANCELLED', error: 'cancelled by the tenant' }) });
    expect(await aggregateJob(cancelled.deps, REF)).toStrictEqual({
      jobId: 'j1',
      status: 'CANCELLED',
      error: 'cancelled by the tenant',
    });
    expect([...done.seen.finished, ...cancelled.seen.finished, ...cancelled.seen.asked]).toEqual([]);
  });
});

describe('aggregateJob: the next stage', () => {
  const opts = NEXT_STAGE;

  it('plans the next stage for the subtasks still unanswered', async () => {
    const { deps, seen } = world(opts);
    const out = await aggregateJob(deps, { ...REF, stage: 1 });
    expect(out).toMatchObject({ status: 'NEXT_STAGE', stage: 2 });
    expect(seen.updates).toHaveLength(1);
    expect(seen.finished).toEqual([]);
  });

  it('closes the job on the failure path instead, without a model call', async () => {
    const { deps, seen } = world(opts);
    const out = await aggregateJob(deps, { ...REF, stage: 1, failure: { Error: 'States.Timeout' } });
    expect(out).toStrictEqual({ jobId: 'j1', status: 'FAILED', error: 'States.Timeout' });
    expect(seen.updates).toEqual([]);
    expect(seen.asked).toEqual([]);
  });
});

describe('aggregateJob: the failure path', () => {
  it.each([
    [undefined, 'FAILED'],
    ['FAILED', 'FAILED'],
    ['CANCELLED', 'CANCELLED'],
  ] as const)(
    'closes the job with outcome %s as %s, with the caught error as its reason',
    async (outcome, status) => {
      const { deps, seen } = world({ stored: job(), agents: [agent('agent-0001', 'SUCCEEDED')] });
      const out = await aggregateJob(deps, {
        ...REF,
        failure: { Error: 'States.TaskFailed', Cause: JSON.stringify({ errorMessage: 'the Map broke' }) },
        ...(outcome ? { outcome } : {}),
      });
      expect(out).toStrictEqual({ jobId: 'j1', status, error: 'States.TaskFailed: the Map broke' });
      expect(seen.finished[0]).toMatchObject({ status, error: 'States.TaskFailed: the Map broke' });
      expect(seen.asked).toEqual([]);
    },
  );
});

describe('aggregateJob: every sub-agent failed', () => {
  it('fails the job with the count and the first error, without a model call', async () => {
    const { deps, seen } = world({
      stored: job(),
      agents: [agent('agent-0001', 'FAILED', 'timed out'), agent('agent-0002', 'FAILED', 'rate limited')],
    });
    const out = await aggregateJob(deps, REF);
    expect(out).toStrictEqual({
      jobId: 'j1',
      status: 'FAILED',
      error: 'all 2 sub-agents failed; first error: timed out',
    });
    expect(seen.asked).toEqual([]);
  });

  it('says the first error is unknown when the planned sub-agents left no record', async () => {
    const planned = job({
      plan: {
        stage: 1,
        agents: 3,
        maxConcurrency: 3,
        mapMode: 'INLINE',
        subtasks: 3,
        decomposedBy: 'request',
      },
    });
    const { deps } = world({ stored: planned });
    expect(await aggregateJob(deps, REF)).toMatchObject({
      status: 'FAILED',
      error: 'all 3 sub-agents failed; first error: unknown',
    });
  });

  it('synthesizes a job that spawned no sub-agents at all', async () => {
    const { deps, seen } = world({ stored: job() });
    expect(await aggregateJob(deps, REF)).toStrictEqual({ jobId: 'j1', status: 'SUCCEEDED' });
    expect(seen.asked).toHaveLength(1);
  });
});

describe('aggregateJob: the policy learns from jobs that ran their course only', () => {
  const scored: WorldOptions = {
    stored: job({
      plan: {
        stage: 1,
        agents: 1,
        maxConcurrency: 1,
        mapMode: 'INLINE',
        subtasks: 1,
        decomposedBy: 'request',
        policy: POLICY,
      },
    }),
    agents: [agent('agent-0001', 'SUCCEEDED')],
    results: [answered('a', { correct: true })],
    subtasks: [{ id: 'a', prompt: 'a', expected: 'yes' }],
  };
  const trained = (seen: ReturnType<typeof world>['seen']) => seen.finished[0]?.metrics?.policy?.trained;

  it('trains on a synthesized job', async () => {
    const { deps, seen } = world(scored);
    await aggregateJob(deps, REF);
    expect(trained(seen)).toBe(true);
    expect(seen.policyUpdates).toHaveLength(1);
  });

  it('does not train on the failure path', async () => {
    const { deps, seen } = world(scored);
    await aggregateJob(deps, { ...REF, failure: { Error: 'States.Timeout' } });
    expect(trained(seen)).toBe(false);
    expect(seen.policyUpdates).toEqual([]);
  });

  it('trains on a job whose sub-agents all failed, and on one whose synthesis the provider refused', async () => {
    const failed = world({ ...scored, agents: [agent('agent-0001', 'FAILED', 'timed out')] });
    await aggregateJob(failed.deps, REF);
    expect(failed.seen.finished[0]?.status).toBe('FAILED');
    expect(trained(failed.seen)).toBe(true);
    const refused = world({ ...scored, reply: { throws: new ProviderRejectedError('content filter', {}) } });
    await aggregateJob(refused.deps, REF);
    expect(refused.seen.finished[0]?.status).toBe('FAILED');
    expect(trained(refused.seen)).toBe(true);
  });
});

describe('aggregateJob: the synthesis', () => {
  it('loads the job and the outcomes at once, before the synthesis', async () => {
    // Prepare: the job's read answers only once the three lists have been asked for
    const { deps, seen } = world({
      stored: job(),
      agents: [agent('agent-0001', 'SUCCEEDED')],
      results: [answered('a', { answer: 'A' })],
      subtasks: [{ id: 'a', prompt: 'a' }],
    });
    const asked: string[] = [];
    const listed = Promise.withResolvers<void>();
    const getJob = deps.store.getJob.bind(deps.store);
    deps.store.getJob = async (ref) => {
      asked.push('job');
      await listed.promise;
      return getJob(ref);
    };
    for (const [owner, name] of [
      [deps.steps, 'listAgents'],
      [deps.store, 'listResults'],
      [deps.store, 'listSubtasks'],
    ] as const) {
      const list = (owner as unknown as Record<string, (r: JobRef) => Promise<unknown>>)[name]!.bind(owner);
      (owner as unknown as Record<string, unknown>)[name] = (r: JobRef) => {
        asked.push(name);
        if (asked.length === 4) listed.resolve();
        return list(r);
      };
    }
    // Act
    const out = await aggregateJob(deps, { tenantId: 't1', jobId: 'j1' });
    // Assess
    expect([...asked].sort()).toEqual(['job', 'listAgents', 'listResults', 'listSubtasks']);
    expect(out).toMatchObject({ status: 'SUCCEEDED' });
    expect(seen.asked).toHaveLength(1);
  });

  it("counts the synthesizer's attempt beside the load when the input names the stage, and only then", async () => {
    // Prepare: the job's read answers only once the attempt has been counted
    const { deps, seen } = world({
      stored: job(),
      agents: [agent('agent-0001', 'SUCCEEDED')],
      results: [answered('a', { answer: 'A' })],
    });
    const counted = Promise.withResolvers<void>();
    const nextAttempt = deps.steps.nextAttempt.bind(deps.steps);
    deps.steps.nextAttempt = (...args) => {
      counted.resolve();
      return nextAttempt(...args);
    };
    const getJob = deps.store.getJob.bind(deps.store);
    deps.store.getJob = async (ref) => {
      await counted.promise;
      return getJob(ref);
    };
    // Act
    const out = await aggregateJob(deps, { ...REF, stage: 1 });
    // Assess: counted once, and the synthesis used it
    expect(out).toMatchObject({ status: 'SUCCEEDED' });
    expect(seen.attempts).toEqual([[1, 'main', 'synthesizer']]);
    expect(seen.recorded.map((s) => s.attempt)).toEqual([2]);
    // The failure path synthesizes nothing and counts nothing
    const failing = world({ stored: job() });
    await aggregateJob(failing.deps, { ...REF, stage: 1, failure: { Error: 'States.Timeout' } });
    expect(failing.seen.attempts).toEqual([]);
  }, 2_000);

  it('asks the synthesizer before the subtasks have loaded (a job with no stage left needs them only for its scores)', async () => {
    // Prepare: the subtasks' read answers only once the model has been asked
    const { deps, seen } = world({
      stored: job({
        plan: {
          stage: 1,
          agents: 1,
          maxConcurrency: 1,
          mapMode: 'INLINE',
          subtasks: 1,
          decomposedBy: 'request',
        },
      }),
      agents: [agent('agent-0001', 'SUCCEEDED')],
      results: [answered('a', { answer: 'A' })],
    });
    const asked = Promise.withResolvers<void>();
    const chat = deps.llm.chat.bind(deps.llm);
    deps.llm.chat = (request) => {
      asked.resolve();
      return chat(request);
    };
    deps.store.listSubtasks = async () => {
      await asked.promise;
      return [{ id: 'a', prompt: 'a' }];
    };
    // Act
    const out = await aggregateJob(deps, { tenantId: 't1', jobId: 'j1' });
    // Assess: synthesized, and the scores still counted the subtask
    expect(out).toMatchObject({ status: 'SUCCEEDED' });
    expect(seen.asked).toHaveLength(1);
    expect(userContent(seen.asked)).toContain('Results of 1 of 1 subtasks');
    expect(seen.finished[0]).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('asks the model once as the synthesizer and stores its answer', async () => {
    // Prepare
    const { deps, seen } = world({
      stored: job({
        plan: {
          stage: 2,
          agents: 1,
          maxConcurrency: 1,
          mapMode: 'INLINE',
          subtasks: 3,
          decomposedBy: 'request',
        },
      }),
      agents: [agent('agent-0001', 'SUCCEEDED')],
      results: [answered('b', { answer: 'B is fine' }), answered('a', { answer: 'A is fine' })],
      subtasks: [
        { id: 'a', prompt: 'a' },
        { id: 'b', prompt: 'b' },
        { id: 'c', prompt: 'c' },
      ],
    });
    // Act
    const out = await aggregateJob(deps, REF);
    // Assess
    expect(out).toStrictEqual({ jobId: 'j1', status: 'SUCCEEDED' });
    expect(seen.asked).toHaveLength(1);
    expect(seen.asked[0]).toMatchObject({
      maxTokens: 1500,
      messages: [
        { role: 'system', content: synthesizerSystemPrompt },
        {
          role: 'user',
          content: 'Task: check the contracts\n\nResults of 2 of 3 subtasks:\n- a: A is fine\n- b: B is fine',
        },
      ],
    });
    // The stage is the plan's when the input names none.
    expect(seen.attempts).toEqual([[2, 'main', 'synthesizer']]);
    expect(seen.recorded.map((s) => [s.stage, s.role, s.agentId, s.step, s.attempt])).toEqual([
      [2, 'main', 'synthesizer', 1, 2],
    ]);
    expect(seen.agentsFinished).toEqual([
      [
        { stage: 2, agentId: 'synthesizer', status: 'SUCCEEDED', attempt: 2, stepCount: 1, subtaskIds: [] },
        'main',
      ],
    ]);
    expect(seen.finished[0]?.result?.answer).toBe('All three contracts comply.');
    expect(seen.finished[0]?.status).toBe('SUCCEEDED');
  });

  it('takes the input’s stage over the plan’s, and stage 1 without either', async () => {
    const planned = job({
      plan: {
        stage: 2,
        agents: 0,
        maxConcurrency: 1,
        mapMode: 'INLINE',
        subtasks: 0,
        decomposedBy: 'request',
      },
    });
    const given = world({ stored: planned });
    await aggregateJob(given.deps, { ...REF, stage: 3 });
    expect(given.seen.attempts).toEqual([[3, 'main', 'synthesizer']]);
    const neither = world({ stored: job() });
    await aggregateJob(neither.deps, REF);
    expect(neither.seen.attempts).toEqual([[1, 'main', 'synthesizer']]);
  });

  it('writes a verdict with its reasons, an answer cut at 300 characters, and a failure with its error', async () => {
    const { deps, seen } = world({
      stored: job(),
      results: [
        answered('f', { status: 'FAILED' }),
        answered('e', { status: 'FAILED', error: 'timed out' }),
        answered('d'),
        answered('c', { answer: 'x'.repeat(350) }),
        answered('bb', { verdict: 'compliant' }),
        answered('b', { verdict: 'non_compliant', reasons: [] }),
        answered('a', { verdict: 'compliant', reasons: ['signed', 'dated'], answer: 'ignored' }),
      ],
    });
    await aggregateJob(deps, REF);
    expect(userContent(seen.asked)).toBe(
      [
        'Task: check the contracts',
        '',
        'Results of 7 of 0 subtasks:',
        '- a: compliant (signed; dated)',
        '- b: non_compliant',
        '- bb: compliant',
        `- c: ${'x'.repeat(300)}`,
        '- d: ',
        '- e: no answer (timed out)',
        '- f: no answer (failed)',
      ].join('\n'),
    );
  });

  it.each([
    [SYNTHESIS_MAX_LINES, ''],
    [SYNTHESIS_MAX_LINES + 5, '\n… and 5 more results.\nAll 205 results: answered 205 · no answer 0.'],
  ])('lists at most 200 of %i results, and says how many it left out', async (count, more) => {
    const results = Array.from({ length: count }, (_, i) =>
      answered(`s${String(i).padStart(4, '0')}`, { answer: 'ok' }),
    );
    const { deps, seen } = world({ stored: job(), results: results.reverse() });
    await aggregateJob(deps, REF);
    const content = userContent(seen.asked) ?? '';
    const lines = content.split('\n').filter((l) => l.startsWith('- '));
    expect(lines).toHaveLength(SYNTHESIS_MAX_LINES);
    expect(lines[0]).toBe('- s0000: ok');
    expect(lines.at(-1)).toBe('- s0199: ok');
    expect(content.startsWith(`Task: check the contracts\n\nResults of ${count} of 0 subtasks:\n`)).toBe(
      true,
    );
    expect(content.endsWith(`- s0199: ok${more}`)).toBe(true);
  });

  it('counts every result in the tally of a long list: verdicts, no answers and the most frequent reasons', () => {
    // Prepare: 3 non-compliant (R2 three times, R1 once), 2 compliant, 1 answered without a verdict, 2 failed
    const results = [
      answered('a', { verdict: 'non_compliant', reasons: ['R2: maintenance', 'R1: inspection'] }),
      answered('b', { verdict: 'non_compliant', reasons: ['R2: maintenance'] }),
      answered('c', { verdict: 'non_compliant', reasons: ['R2: maintenance'] }),
      answered('d', { verdict: 'compliant' }),
      answered('e', { verdict: 'compliant', reasons: [] }),
      answered('f', { answer: '42' }),
      answered('g', { status: 'FAILED', error: 'timed out', reasons: ['R9: not counted'] }),
      answered('h', { status: 'FAILED' }),
    ];
    // Act
    const line = tallyLine(results);
    // Assess
    expect(line).toBe(
      'All 8 results: non_compliant 3 · compliant 2 · answered 1 · no answer 2. Most frequent reasons: R2: maintenance (3×); R1: inspection (1×).',
    );
  });

  it('names at most five reasons in the tally, the most frequent first, ties by name', () => {
    const results = ['R6', 'R5', 'R4', 'R3', 'R2', 'R1', 'R1'].map((code, i) =>
      answered(`s${i}`, { verdict: 'non_compliant', reasons: [`${code}: rule`] }),
    );
    expect(tallyLine(results)).toBe(
      'All 7 results: non_compliant 7 · no answer 0. Most frequent reasons: R1: rule (2×); R2: rule (1×); R3: rule (1×); R4: rule (1×); R5: rule (1×).',
    );
  });

  it('says when the answer reached the output limit, and stores an empty answer for no content', async () => {
    const cut = world({
      stored: job(),
      reply: response({ content: 'Half an answ', finishReason: 'length' }),
    });
    await aggregateJob(cut.deps, REF);
    expect(cut.seen.finished[0]?.result?.answer).toBe(
      'Half an answ\n[cut: the answer reached the limit of 1500 output tokens (finish_reason length)]',
    );
    const empty = world({ stored: job(), reply: response({ content: null }) });
    await aggregateJob(empty.deps, REF);
    expect(empty.seen.finished[0]?.result?.answer).toBe('');
  });

  it('fails the job when the provider refuses the synthesis, and lets any other error through', async () => {
    const refused = world({
      stored: job(),
      reply: { throws: new ProviderRejectedError('content filter', {}) },
    });
    expect(await aggregateJob(refused.deps, REF)).toStrictEqual({
      jobId: 'j1',
      status: 'FAILED',
      error: 'synthesis failed: content filter',
    });
    const broken = new Error('socket hang up');
    const other = world({ stored: job(), reply: { throws: broken } });
    await expect(aggregateJob(other.deps, REF)).rejects.toBe(broken);
    expect(other.seen.finished).toEqual([]);
  });

  it('refuses to synthesize without a model client', async () => {
    const { deps } = world({ stored: job() });
    const { llm: _llm, ...withoutLlm } = deps;
    const error = await aggregateJob(withoutLlm as AggregateDeps, REF).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('aggregateJob needs an LLM client outside the failure path');
  });
});
