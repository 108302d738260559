import { describe, expect, it } from 'vitest';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { BudgetExceededError, LimiterTimeoutError } from '#shared/domain/errors';
import type { CallOutcome } from '#shared/domain/provider-limits';
import type { StepRecord } from '#shared/domain/types';
import type { JobRef, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ChatResponse, LlmClient } from '#shared/ports/llm';
import type { LimiterLease, RateLimiter } from '#shared/ports/rate-limiter';
import { modelStep } from '#shared/use-cases/model-step';

const REF: JobRef = { tenantId: 't1', jobId: 'j1' };
const CTX = { ref: REF, stage: 1, role: 'sub' as const, agentId: 'agent-0001', step: 1, attempt: 1 };
const ANSWER: ChatResponse = {
  content: '4',
  toolCalls: [],
  finishReason: 'stop',
  model: 'kimi-k2.5',
  usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 0 },
};
const RETRY = { maxRetries: 0, backoffBaseMs: 1, backoffCapMs: 1, maxWaitMs: 1_000 };
const REQUEST = { messages: [{ role: 'user' as const, content: '2 + 2' }], maxTokens: 10 };
const turn = () => new Promise((r) => setImmediate(r));

/** A limiter whose grant the test gives; it keeps the order of events and the releases' outcomes. */
function limiter(events: string[], grant?: Promise<void>, refuse?: Error) {
  const released: CallOutcome[] = [];
  const l: RateLimiter = {
    acquire: async () => {
      events.push('lease asked');
      await grant;
      if (refuse) throw refuse;
      events.push('lease granted');
      return { id: 'lease-1', waitedMs: 0, limiterMs: 0 } as LimiterLease;
    },
    release: (_lease, outcome) => {
      released.push(outcome);
      return Promise.resolve();
    },
    freeSlots: () => Promise.resolve(0),
    snapshot: () => Promise.reject(new Error('not used')),
  };
  return { l, released };
}

function provider(events: string[]): LlmClient {
  return {
    model: 'kimi-k2.5',
    chat: () => {
      events.push('sent');
      return Promise.resolve(ANSWER);
    },
  };
}

describe('LimitedLlm.chatAfter: the lease is taken while the caller still waits for `ready`', () => {
  it('asks for the lease at once and sends only once `ready` resolved, the wait counted as readyMs', async () => {
    // Prepare
    const events: string[] = [];
    const { l, released } = limiter(events);
    const ready = Promise.withResolvers<void>();
    const llm = new LimitedLlm(provider(events), l, RETRY);
    // Act
    const call = llm.chatAfter(ready.promise, REQUEST);
    await turn();
    const before = [...events];
    await new Promise((r) => setTimeout(r, 30));
    events.push('ready');
    ready.resolve();
    const response = await call;
    await llm.settled();
    // Assess
    expect(before).toEqual(['lease asked', 'lease granted']);
    expect(events).toEqual(['lease asked', 'lease granted', 'ready', 'sent']);
    expect(response.callStats?.readyMs).toBeGreaterThanOrEqual(20);
    expect(response.callStats?.calls).toBe(1);
    expect(released).toEqual([{ kind: 'success', tokens: 11 }]);
  });

  it("sends nothing when `ready` rejects: the lease goes back as a neutral outcome, with `ready`'s error", async () => {
    // Prepare
    const events: string[] = [];
    const { l, released } = limiter(events);
    const refused = new BudgetExceededError('the job has no budget left for this call', {
      requiredUsd: 1,
      availableUsd: 0,
    });
    const llm = new LimitedLlm(provider(events), l, RETRY);
    // Act
    const error = await llm.chatAfter(Promise.reject(refused), REQUEST).catch((e: unknown) => e);
    // Assess
    expect(error).toBe(refused);
    expect(events).not.toContain('sent');
    expect(released).toEqual([{ kind: 'rejected' }]);
  });

  it("throws `ready`'s refusal rather than the limiter's error when both fail", async () => {
    // Prepare: the limiter gives up only after the authorization was refused
    const events: string[] = [];
    const grant = Promise.withResolvers<void>();
    const { l, released } = limiter(events, grant.promise, new LimiterTimeoutError('no slot', 'concurrency'));
    const refused = new BudgetExceededError('no budget', { requiredUsd: 1, availableUsd: 0 });
    const llm = new LimitedLlm(provider(events), l, RETRY);
    // Act
    const call = llm.chatAfter(Promise.reject(refused), REQUEST).catch((e: unknown) => e);
    await turn();
    grant.resolve();
    // Assess
    expect(await call).toBe(refused);
    expect(events).toEqual(['lease asked']);
    expect(released).toEqual([]);
  });
});

describe('modelStep: the authorization and the lease at once', () => {
  function world(authorize: () => Promise<number>) {
    const events: string[] = [];
    const { l } = limiter(events);
    const recorded: StepRecord[] = [];
    const completions: number[] = [];
    const steps = {
      recordStep: (_ref: JobRef, step: StepRecord) => {
        recorded.push(step);
        return Promise.resolve();
      },
    } as unknown as StepRecorder;
    const ledger = {
      authorizeCall: () => {
        events.push('authorization asked');
        return authorize();
      },
      completeCall: (_ref: JobRef, authorized: number) => {
        completions.push(authorized);
        return Promise.resolve(undefined);
      },
    } as unknown as BudgetLedger;
    const llm = new LimitedLlm(provider(events), l, RETRY);
    return { deps: { llm, steps, ledger }, events, recorded, completions };
  }

  it('asks the limiter before the authorization has answered, and sends after it', async () => {
    // Prepare
    const answer = Promise.withResolvers<number>();
    const w = world(() => answer.promise);
    // Act
    const step = modelStep(w.deps, CTX, REQUEST);
    await turn();
    const before = [...w.events];
    answer.resolve(0.5);
    await step;
    // Assess
    expect(before).toEqual(['authorization asked', 'lease asked', 'lease granted']);
    expect(w.events.at(-1)).toBe('sent');
    expect(w.recorded).toHaveLength(1);
    expect(w.completions).toEqual([0.5]);
  });

  it('leaves no step and completes nothing when the authorization is refused', async () => {
    // Prepare
    const refused = new BudgetExceededError('no budget', { requiredUsd: 1, availableUsd: 0 });
    const w = world(() => Promise.reject(refused));
    // Act
    const error = await modelStep(w.deps, CTX, REQUEST).catch((e: unknown) => e);
    // Assess
    expect(error).toBe(refused);
    expect(w.events).not.toContain('sent');
    expect(w.recorded).toEqual([]);
    expect(w.completions).toEqual([]);
  });

  it("does not count the wait for the authorization in the step's duration", async () => {
    // Prepare: an authorization answering 300 ms after the lease was granted (the provider answers at once)
    const w = world(() => new Promise((r) => setTimeout(() => r(0.5), 300)));
    // Act
    await modelStep(w.deps, CTX, REQUEST);
    // Assess
    const [step] = w.recorded;
    expect(step?.durationMs).toBeLessThan(150);
    expect(Date.parse(step?.endedAt ?? '') - Date.parse(step?.startedAt ?? '')).toBeGreaterThanOrEqual(290);
  });
});
