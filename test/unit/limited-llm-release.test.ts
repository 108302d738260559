import { describe, expect, it } from 'vitest';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { ObservedLlm } from '#shared/adapters/telemetry';
import { TransientError } from '#shared/domain/errors';
import type { CallOutcome } from '#shared/domain/provider-limits';
import type { ChatResponse, LlmClient } from '#shared/ports/llm';
import type { LimiterLease, RateLimiter } from '#shared/ports/rate-limiter';
import { lambdaTelemetry } from '../integration/emf.ts';

const answer: ChatResponse = {
  content: 'ok',
  finishReason: 'stop',
  model: 'm',
  usage: { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0 },
} as ChatResponse;

/** A limiter whose releases the test ends one by one. */
function limiter(opts: { failRelease?: boolean } = {}) {
  const released: { outcome: CallOutcome; done: PromiseWithResolvers<void> }[] = [];
  let n = 0;
  const l: RateLimiter = {
    acquire: () => Promise.resolve({ id: `lease-${++n}`, waitedMs: 0, limiterMs: 0 } as LimiterLease),
    release: (_lease, outcome) => {
      const done = Promise.withResolvers<void>();
      released.push({ outcome, done });
      return opts.failRelease
        ? done.promise.then(() => Promise.reject(new Error('table gone')))
        : done.promise;
    },
    freeSlots: () => Promise.resolve(0),
    snapshot: () => Promise.reject(new Error('not used')),
  };
  return { l, released };
}
const inner = (fail = 0): LlmClient => ({
  model: 'm',
  chat: () => (fail-- > 0 ? Promise.reject(new TransientError('503')) : Promise.resolve(answer)),
});
const retry = { maxRetries: 2, backoffBaseMs: 1, backoffCapMs: 1, maxWaitMs: 1_000 };
const turn = () => new Promise((r) => setImmediate(r));

describe('LimitedLlm: the release of a successful call is off the caller’s path', () => {
  it('answers before the release has ended; the answer’s settling waits for it', async () => {
    const { l, released } = limiter();
    const llm = new LimitedLlm(inner(), l, retry, async () => undefined);
    const response = await llm.chat({ messages: [{ role: 'user', content: 'hi' }] });
    expect(response.content).toBe('ok');
    expect(released).toHaveLength(1);
    expect(released[0]?.outcome).toEqual({ kind: 'success', tokens: 15 });
    let settled = false;
    const waiting = response.settling?.then(() => {
      settled = true;
    });
    await turn();
    expect(settled).toBe(false);
    released[0]?.done.resolve();
    await waiting;
    expect(settled).toBe(true);
  });

  it('each answer’s settling is its own call’s release only', async () => {
    const { l, released } = limiter();
    const llm = new LimitedLlm(inner(), l, retry, async () => undefined);
    const first = await llm.chat({ messages: [{ role: 'user', content: 'a' }] });
    const second = await llm.chat({ messages: [{ role: 'user', content: 'b' }] });
    let secondSettled = false;
    void second.settling?.then(() => {
      secondSettled = true;
    });
    released[0]?.done.resolve();
    await first.settling; // the second release is still open
    await turn();
    expect(released).toHaveLength(2);
    expect(secondSettled).toBe(false);
    released[1]?.done.resolve();
    await second.settling;
    expect(secondSettled).toBe(true);
  });

  it('a failed release neither fails the call nor its settling', async () => {
    const { l, released } = limiter({ failRelease: true });
    const llm = new LimitedLlm(inner(), l, retry, async () => undefined);
    const response = await llm.chat({ messages: [{ role: 'user', content: 'hi' }] });
    released[0]?.done.resolve();
    await expect(response.settling).resolves.toBeUndefined();
    expect(response.content).toBe('ok');
  });

  it('a failed attempt is released before its retry (its outcome may pause the next)', async () => {
    const { l, released } = limiter();
    const llm = new LimitedLlm(inner(1), l, retry, async () => undefined);
    const call = llm.chat({ messages: [{ role: 'user', content: 'hi' }] });
    await turn();
    // The 503's release is awaited: no second attempt until it ends.
    expect(released.map((r) => r.outcome.kind)).toEqual(['failure']);
    released[0]?.done.resolve();
    const response = await call;
    expect(response.callStats?.calls).toBe(2);
    expect(released.map((r) => r.outcome.kind)).toEqual(['failure', 'success']);
  });

  it("an invocation's client waits for its own calls' releases, not for those of the others in the process", async () => {
    // Prepare: two invocations (an ObservedLlm each) over the process's one LimitedLlm, one call each
    const { l, released } = limiter();
    const shared = new LimitedLlm(inner(), l, retry, async () => undefined);
    const first = new ObservedLlm(shared, lambdaTelemetry());
    const second = new ObservedLlm(shared, lambdaTelemetry());
    const answer = await first.chat({ messages: [{ role: 'user', content: 'a' }] });
    await second.chat({ messages: [{ role: 'user', content: 'b' }] });
    let firstSettled = false;
    const firstWaiting = first.settled().then(() => {
      firstSettled = true;
    });
    // Act: only the second call's release ends
    released[1]?.done.resolve();
    await second.settled();
    await turn();
    // Assess: the second invocation could return; the first still waits for its own release
    expect(answer.settling).toBeInstanceOf(Promise);
    expect(firstSettled).toBe(false);
    released[0]?.done.resolve();
    await firstWaiting;
    expect(firstSettled).toBe(true);
  });
});
