import { describe, expect, it } from 'vitest';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { BudgetExceededError } from '#shared/domain/errors';
import type { CallOutcome } from '#shared/domain/provider-limits';
import type { StepRecord } from '#shared/domain/types';
import type { JobRef, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';
import type { LimiterLease, RateLimiter } from '#shared/ports/rate-limiter';
import { modelStep } from '#shared/use-cases/model-step';

/**
 * The ledger's authorization of a call and the limiter's slot are asked for together (one round
 * trip before the call, not two), and the provider still sees nothing the ledger refused.
 */
const REF: JobRef = { tenantId: 't1', jobId: 'j1' };
const CTX = { ref: REF, stage: 1, role: 'sub' as const, agentId: 'agent-0001', step: 1, attempt: 1 };
const ANSWER = {
  content: 'ok',
  toolCalls: [],
  finishReason: 'stop',
  model: 'kimi-k2.5',
  usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0 },
} as ChatResponse;
const RETRY = { maxRetries: 0, backoffBaseMs: 1, backoffCapMs: 1, maxWaitMs: 1_000 };
const turn = () => new Promise((r) => setImmediate(r));

/** A LimitedLlm over `inner`, whose limiter grants with `acquire` and notes its releases in `released`. */
function limitedLlm(
  acquire: RateLimiter['acquire'],
  inner: LlmClient = { model: 'kimi-k2.5', chat: () => Promise.resolve(ANSWER) },
  released: CallOutcome[] = [],
) {
  const limiter: RateLimiter = {
    acquire,
    release: (_lease, outcome) => {
      released.push(outcome);
      return Promise.resolve();
    },
    freeSlots: () => Promise.resolve(0),
    snapshot: () => Promise.reject(new Error('not used')),
  };
  return new LimitedLlm(inner, limiter, RETRY, async () => undefined);
}

/** Everything a model step touches, each event in one list in the order it happened. */
function world() {
  const events: string[] = [];
  const authorization = Promise.withResolvers<number>();
  const released: CallOutcome[] = [];
  const recorded: StepRecord[] = [];
  const completions: [number, number][] = [];
  const acquire = () => {
    events.push('slot');
    return Promise.resolve({ id: 'lease-1', waitedMs: 0, limiterMs: 0 } as LimiterLease);
  };
  const inner: LlmClient = {
    model: 'kimi-k2.5',
    chat: () => {
      events.push('sent');
      return Promise.resolve(ANSWER);
    },
  };
  const ledger = {
    authorizeCall: () => {
      events.push('authorize');
      return authorization.promise;
    },
    completeCall: (_ref: JobRef, authorizedUsd: number, actualUsd: number) => {
      completions.push([authorizedUsd, actualUsd]);
      return Promise.resolve(undefined);
    },
  } as unknown as BudgetLedger;
  const steps = {
    recordStep: (_ref: JobRef, step: StepRecord) => {
      recorded.push(step);
      return Promise.resolve();
    },
  } as unknown as StepRecorder;
  const llm = limitedLlm(acquire, inner, released);
  return { events, authorization, released, recorded, completions, ledger, steps, llm };
}

describe('modelStep with a client that waits for the authorization', () => {
  it('takes the slot while the ledger authorizes, and sends only once authorized', async () => {
    const w = world();
    const step = modelStep({ llm: w.llm, steps: w.steps, ledger: w.ledger }, CTX, {
      messages: [{ role: 'user', content: 'hi' }],
      maxTokens: 10,
    });
    await turn();
    expect(w.events).toEqual(['authorize', 'slot']);
    w.authorization.resolve(0.5);
    const response = await step;
    expect(response.content).toBe('ok');
    expect(w.events).toEqual(['authorize', 'slot', 'sent']);
    expect(w.recorded).toHaveLength(1);
    expect(w.recorded[0]?.status).toBe('SUCCEEDED');
    // The wait for the ledger is the limiter's time, not the model's.
    expect(w.recorded[0]?.limiterMs).toBeGreaterThanOrEqual(0);
    expect(w.completions).toHaveLength(1);
    expect(w.completions[0]?.[0]).toBe(0.5);
  });

  it('a refused call reaches no provider, leaves no step, gives its slot back and throws the refusal', async () => {
    const w = world();
    const step = modelStep({ llm: w.llm, steps: w.steps, ledger: w.ledger }, CTX, {
      messages: [{ role: 'user', content: 'hi' }],
    });
    await turn();
    const refusal = new BudgetExceededError('the job budget is spent', { requiredUsd: 1, availableUsd: 0 });
    w.authorization.reject(refusal);
    await expect(step).rejects.toBe(refusal);
    expect(w.events).toEqual(['authorize', 'slot']);
    expect(w.recorded).toEqual([]);
    expect(w.released).toEqual([{ kind: 'rejected' }]);
    expect(w.completions).toEqual([]);
  });

  it('a call that fails gives back what was authorized, also when that came after the failure', async () => {
    const w = world();
    // The client fails before it waits: the limiter refuses at once.
    const llm = limitedLlm(() => Promise.reject(new Error('limiter table gone')));
    const step = modelStep({ llm, steps: w.steps, ledger: w.ledger }, CTX, {
      messages: [{ role: 'user', content: 'hi' }],
    });
    const settled = step.catch((e: unknown) => e);
    await turn();
    expect(w.completions).toEqual([]); // still waiting for the ledger's answer
    w.authorization.resolve(0.25);
    expect(await settled).toMatchObject({ message: 'limiter table gone' });
    expect(w.completions).toEqual([[0.25, 0]]);
    expect(w.recorded.map((s) => s.status)).toEqual(['FAILED']);
  });
});

describe('modelStep with an attempt still being counted', () => {
  it('sends once the attempt is known too, and records it', async () => {
    const w = world();
    const attempt = Promise.withResolvers<number>();
    const step = modelStep(
      { llm: w.llm, steps: w.steps, ledger: w.ledger },
      { ...CTX, attempt: attempt.promise },
      {
        messages: [{ role: 'user', content: 'hi' }],
      },
    );
    await turn();
    w.authorization.resolve(0.5);
    await turn();
    expect(w.events).toEqual(['authorize', 'slot']);
    attempt.resolve(3);
    await step;
    expect(w.events).toEqual(['authorize', 'slot', 'sent']);
    expect(w.recorded.map((s) => [s.status, s.attempt])).toEqual([['SUCCEEDED', 3]]);
  });

  it('sends nothing and records nothing when the count fails, and gives back what was authorized', async () => {
    const w = world();
    const counted = new Error('attempt counter gone');
    const step = modelStep(
      { llm: w.llm, steps: w.steps, ledger: w.ledger },
      { ...CTX, attempt: Promise.reject(counted) },
      {
        messages: [{ role: 'user', content: 'hi' }],
      },
    );
    w.authorization.resolve(0.5);
    await expect(step).rejects.toBe(counted);
    expect(w.events).toEqual(['authorize', 'slot']);
    expect(w.recorded).toEqual([]);
    expect(w.released).toEqual([{ kind: 'rejected' }]);
    expect(w.completions).toEqual([[0.5, 0]]);
  });

  it('records a failure after the call was sent with the attempt it was sent under', async () => {
    const w = world();
    const llm = limitedLlm(
      () => Promise.resolve({ id: 'lease-1', waitedMs: 0, limiterMs: 0 } as LimiterLease),
      { model: 'kimi-k2.5', chat: () => Promise.reject(new Error('400 bad request')) },
    );
    const step = modelStep(
      { llm, steps: w.steps },
      { ...CTX, attempt: Promise.resolve(2) },
      {
        messages: [{ role: 'user', content: 'hi' }],
      },
    );
    await expect(step).rejects.toThrow('400 bad request');
    expect(w.recorded.map((s) => [s.status, s.attempt])).toEqual([['FAILED', 2]]);
  });

  it('records nothing for a call that failed before it was sent, while its count failed too', async () => {
    const w = world();
    const llm = limitedLlm(() => Promise.reject(new Error('limiter table gone')));
    const step = modelStep(
      { llm, steps: w.steps },
      { ...CTX, attempt: Promise.reject(new Error('counter gone')) },
      {
        messages: [{ role: 'user', content: 'hi' }],
      },
    );
    await expect(step).rejects.toThrow('limiter table gone');
    expect(w.recorded).toEqual([]);
  });
});

describe('modelStep: a failure that is not the refusal', () => {
  it('is recorded and thrown as it is, even when the ledger refused the call meanwhile', async () => {
    const w = world();
    // A limiter whose grant the test ends (here: fails), after the ledger answered.
    const grant = Promise.withResolvers<LimiterLease>();
    const llm = limitedLlm(() => grant.promise);
    const step = modelStep({ llm, steps: w.steps, ledger: w.ledger }, CTX, {
      messages: [{ role: 'user', content: 'hi' }],
    });
    const settled = step.catch((e: unknown) => e);
    await turn();
    w.authorization.reject(new BudgetExceededError('spent', { requiredUsd: 1, availableUsd: 0 }));
    await turn();
    grant.reject(new Error('limiter table gone'));
    expect(await settled).toMatchObject({ message: 'limiter table gone' });
    expect(w.recorded.map((s) => [s.status, s.error])).toEqual([['FAILED', 'limiter table gone']]);
  });

  it('is recorded when a client fails with something that is not an Error', async () => {
    const w = world();
    const thrower: LlmClient = { model: 'kimi-k2.5', chat: () => Promise.reject(undefined) };
    const step = modelStep({ llm: thrower, steps: w.steps }, CTX, {
      messages: [{ role: 'user', content: 'hi' }],
    });
    await expect(step).rejects.toBeUndefined();
    expect(w.recorded.map((s) => [s.status, s.error])).toEqual([['FAILED', 'undefined']]);
  });
});

describe('modelStep with a client that does not wait (no waitsForReady)', () => {
  it('authorizes first and hands the client no ready', async () => {
    const w = world();
    const asked: ChatRequest[] = [];
    const plain: LlmClient = {
      model: 'kimi-k2.5',
      chat: (r) => {
        asked.push(r);
        w.events.push('sent');
        return Promise.resolve(ANSWER);
      },
    };
    const step = modelStep({ llm: plain, steps: w.steps, ledger: w.ledger }, CTX, {
      messages: [{ role: 'user', content: 'hi' }],
    });
    await turn();
    expect(w.events).toEqual(['authorize']);
    w.authorization.resolve(0.5);
    await step;
    expect(w.events).toEqual(['authorize', 'sent']);
    expect(asked[0]).not.toHaveProperty('ready');
  });
});
