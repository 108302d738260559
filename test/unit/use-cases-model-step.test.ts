import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PriceTable, StepRecord } from '#shared/domain/types';
import type { JobRef, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger, CallStop } from '#shared/ports/ledger';
import type { CallStats, ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';
import { modelStep, type StepContext } from '#shared/use-cases/model-step';

const REF: JobRef = { tenantId: 't1', jobId: 'j1' };
const ctx = (fields: Partial<StepContext> = {}): StepContext => ({
  ref: REF,
  stage: 2,
  role: 'sub',
  agentId: 'agent-0003',
  step: 4,
  attempt: 1,
  ...fields,
});
/** A dollar per input token and nothing else, so an authorization reads as a token count. */
const PER_INPUT_TOKEN: PriceTable = {
  inputPerMillion: 1_000_000,
  cachedInputPerMillion: 0,
  outputPerMillion: 0,
};
/** A dollar per uncached input token, ten per output token, a cent per cached one. */
const PRICES: PriceTable = {
  inputPerMillion: 1_000_000,
  cachedInputPerMillion: 10_000,
  outputPerMillion: 10_000_000,
};

const answer = (fields: Partial<ChatResponse> = {}): ChatResponse => ({
  content: 'ok',
  toolCalls: [],
  finishReason: 'stop',
  model: 'kimi-k2.5',
  usage: { inputTokens: 100, outputTokens: 7, cachedInputTokens: 40 },
  ...fields,
});
const request = (fields: Partial<ChatRequest> = {}): ChatRequest => ({
  messages: [{ role: 'user', content: 'hello' }],
  maxTokens: 10,
  ...fields,
});

/** A model answering `reply` (or throwing it), a step recorder and a ledger, and what each was asked. */
function world(
  reply: ChatResponse | { throws: unknown },
  opts: { authorized?: number; stop?: CallStop; recordFails?: Error } = {},
) {
  const asked: ChatRequest[] = [];
  const recorded: StepRecord[] = [];
  const authorizations: [JobRef, number, string | undefined][] = [];
  const completions: [JobRef, number, number, string | undefined][] = [];
  const llm: LlmClient = {
    model: 'kimi-k2.5-fallback',
    chat: (r) => {
      asked.push(r);
      return 'throws' in reply ? Promise.reject(reply.throws) : Promise.resolve(reply);
    },
  };
  const steps = {
    recordStep: (_ref: JobRef, s: StepRecord) => {
      recorded.push(s);
      return opts.recordFails ? Promise.reject(opts.recordFails) : Promise.resolve();
    },
  } as unknown as StepRecorder;
  const ledger = {
    authorizeCall: (ref: JobRef, maxUsd: number, caller?: string) => {
      authorizations.push([ref, maxUsd, caller]);
      return Promise.resolve(opts.authorized ?? maxUsd);
    },
    completeCall: (ref: JobRef, authorizedUsd: number, actualUsd: number, caller?: string) => {
      completions.push([ref, authorizedUsd, actualUsd, caller]);
      return Promise.resolve(opts.stop);
    },
  } as unknown as BudgetLedger;
  return { llm, steps, ledger, asked, recorded, authorizations, completions };
}

/** Date.now() answers `started`, then `ended`: the step's two clock readings. */
function clock(started: number, ended: number): void {
  vi.spyOn(Date, 'now').mockReturnValueOnce(started).mockReturnValueOnce(ended);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('modelStep', () => {
  it('records a succeeded call as one step with its place, tokens, model, finish reason and times', async () => {
    // Prepare
    const w = world(answer());
    clock(10_000, 12_500);
    // Act
    const response = await modelStep({ llm: w.llm, steps: w.steps }, ctx(), request());
    // Assess
    expect(response).toEqual(answer());
    expect(w.recorded).toEqual([
      {
        stage: 2,
        role: 'sub',
        agentId: 'agent-0003',
        step: 4,
        attempt: 1,
        startedAt: new Date(10_000).toISOString(),
        endedAt: new Date(12_500).toISOString(),
        durationMs: 2500,
        inputTokens: 100,
        outputTokens: 7,
        cachedInputTokens: 40,
        status: 'SUCCEEDED',
        model: 'kimi-k2.5',
        finishReason: 'stop',
      },
    ]);
  });

  it.each([
    ['main', 'orchestrator'],
    ['sub', 'subagent'],
  ] as const)('tells the model a %s step calls as the %s, for the tenant', async (role, caller) => {
    const w = world(answer());
    await modelStep({ llm: w.llm, steps: w.steps }, ctx({ role }), request({ json: true }));
    expect(w.asked).toEqual([{ ...request({ json: true }), caller: { role: caller, tenantId: 't1' } }]);
  });

  it('names the tools the model called, and leaves the field out when it called none', async () => {
    const call = (name: string) => ({
      id: name,
      type: 'function' as const,
      function: { name, arguments: '{}' },
    });
    const w = world(answer({ toolCalls: [call('search'), call('fetch')] }));
    await modelStep({ llm: w.llm, steps: w.steps }, ctx(), request());
    expect(w.recorded[0]?.toolCalls).toEqual(['search', 'fetch']);
    const none = world(answer());
    await modelStep({ llm: none.llm, steps: none.steps }, ctx(), request());
    expect(none.recorded[0]).not.toHaveProperty('toolCalls');
  });

  it("keeps a retrying client's statistics, rounded, and takes its waiting out of the model's time", async () => {
    const callStats: CallStats = { calls: 3, rateLimited: 2, waitedMs: 300.4, limiterMs: 99.6 };
    const w = world(answer({ callStats }));
    clock(10_000, 12_000);
    await modelStep({ llm: w.llm, steps: w.steps }, ctx(), request());
    expect(w.recorded[0]).toMatchObject({ calls: 3, rateLimited: 2, waitedMs: 300, limiterMs: 100 });
    // 2000 ms less 300 waiting and 100 of the limiter's round trips.
    expect(w.recorded[0]?.durationMs).toBe(1600);
  });

  it('leaves out the limiter time a client did not measure, and never records a negative duration', async () => {
    const w = world(answer({ callStats: { calls: 1, rateLimited: 0, waitedMs: 900 } }));
    clock(10_000, 10_500);
    await modelStep({ llm: w.llm, steps: w.steps }, ctx(), request());
    expect(w.recorded[0]).not.toHaveProperty('limiterMs');
    expect(w.recorded[0]).toMatchObject({ calls: 1, rateLimited: 0, waitedMs: 900, durationMs: 0 });
  });

  it('records a failed call FAILED with no tokens, the client’s model, the error and its statistics, then throws it', async () => {
    // Prepare
    const error = Object.assign(new Error('provider said no'), {
      callStats: { calls: 4, rateLimited: 4, waitedMs: 1000.2, limiterMs: 200.2 },
    });
    const w = world({ throws: error });
    clock(10_000, 13_000);
    // Act
    const caught = await modelStep({ llm: w.llm, steps: w.steps }, ctx(), request()).catch((e: unknown) => e);
    // Assess
    expect(caught).toBe(error);
    expect(w.recorded).toEqual([
      {
        stage: 2,
        role: 'sub',
        agentId: 'agent-0003',
        step: 4,
        attempt: 1,
        startedAt: new Date(10_000).toISOString(),
        endedAt: new Date(13_000).toISOString(),
        durationMs: 1800,
        inputTokens: 0,
        outputTokens: 0,
        cachedInputTokens: 0,
        status: 'FAILED',
        model: 'kimi-k2.5-fallback',
        error: 'provider said no',
        calls: 4,
        rateLimited: 4,
        waitedMs: 1000,
        limiterMs: 200,
      },
    ]);
  });

  it('keeps the first 1000 characters of a long error, and records a thrown non-error as text', async () => {
    const long = world({ throws: new Error('x'.repeat(1500)) });
    clock(10_000, 10_100);
    await modelStep({ llm: long.llm, steps: long.steps }, ctx(), request()).catch(() => undefined);
    expect(long.recorded[0]?.error).toBe('x'.repeat(1000));
    expect(long.recorded[0]?.durationMs).toBe(100);
    const odd = world({ throws: 'socket closed' });
    await modelStep({ llm: odd.llm, steps: odd.steps }, ctx(), request()).catch(() => undefined);
    expect(odd.recorded[0]?.error).toBe('socket closed');
    expect(odd.recorded[0]).not.toHaveProperty('calls');
  });
});

describe('modelStep with a ledger', () => {
  it('authorizes the most the call can cost from its prompt, tools and output ceiling, for the agent', async () => {
    // Prepare: 5 + 6 characters of messages (none for a null content) and "[]" for no tools: 13 → 7 tokens, + 64.
    const w = world(answer());
    const messages: ChatRequest['messages'] = [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: null },
      { role: 'user', content: 'again!' },
    ];
    // Act
    await modelStep(
      { llm: w.llm, steps: w.steps, ledger: w.ledger, prices: PER_INPUT_TOKEN },
      ctx(),
      request({ messages }),
    );
    // Assess
    expect(w.authorizations).toEqual([[REF, 71, 'agent-0003']]);
  });

  it('counts the tools given in the prompt', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'f', parameters: {} } }];
    const w = world(answer());
    await modelStep(
      { llm: w.llm, steps: w.steps, ledger: w.ledger, prices: PER_INPUT_TOKEN },
      ctx(),
      request({ tools }),
    );
    const chars = 'hello'.length + JSON.stringify(tools).length;
    expect(w.authorizations[0]?.[1]).toBe(Math.ceil(chars / 2) + 64);
  });

  it('assumes 4096 output tokens for a call that sets no ceiling', async () => {
    const w = world(answer());
    const prices = { inputPerMillion: 0, cachedInputPerMillion: 0, outputPerMillion: 1_000_000 };
    await modelStep({ llm: w.llm, steps: w.steps, ledger: w.ledger, prices }, ctx(), {
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(w.authorizations[0]?.[1]).toBe(4096);
  });

  it('completes the call with what it authorized and what the tokens cost at the prices given', async () => {
    const w = world(answer(), { authorized: 500 });
    await modelStep({ llm: w.llm, steps: w.steps, ledger: w.ledger, prices: PRICES }, ctx(), request());
    // 60 uncached input tokens at $1, 40 cached at $0.01, 7 output at $10.
    expect(w.completions).toHaveLength(1);
    const [ref, authorized, actual, caller] = w.completions[0] ?? [];
    expect([ref, authorized, caller]).toEqual([REF, 500, 'agent-0003']);
    expect(actual).toBeCloseTo(60 + 0.4 + 70, 9);
  });

  it('completes a failed call as costing nothing, and still throws its error', async () => {
    const w = world({ throws: new Error('refused') }, { authorized: 500 });
    await expect(
      modelStep({ llm: w.llm, steps: w.steps, ledger: w.ledger, prices: PRICES }, ctx(), request()),
    ).rejects.toThrow('refused');
    expect(w.completions).toEqual([[REF, 500, 0, 'agent-0003']]);
  });

  it('throws the error of a step record that cannot be written, the call paid once at its actual cost', async () => {
    const unwritable = new Error('the table is throttled');
    const w = world(answer(), { authorized: 500, recordFails: unwritable });
    const caught = await modelStep(
      { llm: w.llm, steps: w.steps, ledger: w.ledger, prices: PRICES },
      ctx(),
      request(),
    ).catch((e: unknown) => e);
    expect(caught).toBe(unwritable);
    expect(w.completions).toHaveLength(1);
    expect(w.completions[0]?.[2]).toBeCloseTo(130.4, 9);
  });

  it('completes nothing when nothing was authorized', async () => {
    const w = world(answer(), { authorized: 0 });
    await modelStep({ llm: w.llm, steps: w.steps, ledger: w.ledger }, ctx(), request());
    expect(w.authorizations).toHaveLength(1);
    expect(w.completions).toEqual([]);
  });

  it('hands the stop of a job whose last call this was to onLastStoppedCall', async () => {
    const stop: CallStop = { status: 'ABORTED', reason: 'cancelled by the tenant' };
    const w = world(answer(), { stop });
    const told: [JobRef, CallStop][] = [];
    await modelStep(
      {
        llm: w.llm,
        steps: w.steps,
        ledger: w.ledger,
        onLastStoppedCall: (ref, s) => {
          told.push([ref, s]);
          return Promise.resolve();
        },
      },
      ctx(),
      request(),
    );
    expect(told).toEqual([[REF, stop]]);
  });

  it('tells nobody when the call was not the last of a stopped job, or nobody listens', async () => {
    const w = world(answer());
    let told = 0;
    const onLastStoppedCall = () => {
      told += 1;
      return Promise.resolve();
    };
    await modelStep({ llm: w.llm, steps: w.steps, ledger: w.ledger, onLastStoppedCall }, ctx(), request());
    expect(told).toBe(0);
    const stopped = world(answer(), { stop: { status: 'TIMED_OUT' } });
    await expect(
      modelStep({ llm: stopped.llm, steps: stopped.steps, ledger: stopped.ledger }, ctx(), request()),
    ).resolves.toEqual(answer());
  });
});
