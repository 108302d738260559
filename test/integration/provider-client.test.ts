import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '#local/simulator/server';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { OpenAiLlm } from '#shared/adapters/llm/openai-llm';
import { ProviderRejectedError, RateLimitedError, TransientError } from '#shared/domain/errors';
import { callStatsOf } from '#shared/ports/llm';

const ask = { messages: [{ role: 'user' as const, content: 'What is 2 + 2?' }], maxTokens: 50 };

/** The simulator playing a provider's limits and faults, and the client's one retry layer, over HTTP. */
describe('the simulated provider and the retrying client', () => {
  let sim: Simulator | undefined;
  const start = async (opts: SimulatorOptions, timeoutMs = 2_000) => {
    sim = await startSimulator({ latencyScale: 0, ...opts });
    return { sim, llm: new OpenAiLlm({ baseUrl: sim.baseUrl, apiKey: 'k', model: 'kimi-k2.5', timeoutMs }) };
  };
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it('answers 429 rate_limit_reached_error above the concurrency limit, Retry-After every other time', async () => {
    // Prepare: 2 in flight at most, slow answers so 6 calls overlap.
    const { sim } = await start({ latencyScale: 1, latency: { ttftMs: 300 }, limits: { maxConcurrency: 2 } });
    // Act
    const responses = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${sim.baseUrl}/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(ask),
        }),
      ),
    );
    // Assess
    const limited = responses.filter((r) => r.status === 429);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(2);
    expect(limited).toHaveLength(4);
    const body = (await limited[0]!.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('rate_limit_reached_error');
    expect(body.error.message).toMatch(/max organization concurrency: 2/);
    expect(limited.filter((r) => r.headers.get('retry-after') !== null)).toHaveLength(2);
    expect(sim.providerStats().limits).toMatchObject({ rateLimited: 4, maxAdmittedInFlight: 2 });
  });

  it('answers 429 above the RPM of its window and reports the requests it saw per window', async () => {
    const { sim, llm } = await start({ limits: { rpm: 3, windowMs: 60_000, retryAfter: 'always' } });
    for (let i = 0; i < 3; i++) await llm.chat(ask);
    const error = await llm.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ type: 'rate_limit_reached_error' });
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(50_000);
    expect(sim.providerStats().limits).toMatchObject({
      admitted: 3,
      maxRequestsPerWindow: 3,
      rateLimited: 1,
    });
  });

  it.each([
    ['server-error', { serverErrorRate: 1 }, /Provider answered 50[023]/],
    ['timeout', { timeoutRate: 1 }, /could not be reached|timed out/i],
    ['truncated', { truncatedRate: 1 }, /broke off|malformed|could not be reached/],
    ['non-json', { nonJsonRate: 1 }, /not a chat completion/],
  ] as const)('maps an injected %s to TransientError', async (fault, chaos, message) => {
    const { sim, llm } = await start({ chaos }, 500);
    const error = await llm.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(message);
    expect(sim.providerStats().injected[fault]).toBe(1);
    // A broken or missing answer hands out no tokens.
    expect(sim.stats().promptTokens).toBe(0);
  });

  it('retries 5xx at the client with backoff until it succeeds, and says how many calls it took', async () => {
    const { sim, llm } = await start({ faults: [{ match: '2 + 2', status: 503, times: 2 }] });
    const limited = new LimitedLlm(llm, undefined, {
      maxRetries: 3,
      backoffBaseMs: 5,
      backoffCapMs: 20,
      maxWaitMs: 5_000,
    });
    const response = await limited.chat(ask);
    expect(response.callStats).toMatchObject({ calls: 3, rateLimited: 0 });
    expect(sim.stats().byStatus).toEqual({ '200': 1, '503': 2 });
  });

  it('fails fast on 403 insufficient balance: one call, the provider message kept', async () => {
    const { sim, llm } = await start({ faults: [{ match: '', status: 403 }] });
    const limited = new LimitedLlm(llm, undefined, {
      maxRetries: 5,
      backoffBaseMs: 5,
      backoffCapMs: 20,
      maxWaitMs: 5_000,
    });
    const error = await limited.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRejectedError);
    expect(error).toMatchObject({ status: 403, type: 'exceeded_current_quota_error' });
    expect((error as Error).message).toMatch(/insufficient balance/);
    expect(callStatsOf(error)).toEqual({ calls: 1, rateLimited: 0, waitedMs: 0, circuitOpen: 0 });
    expect(sim.stats().requests).toBe(1);
  });

  it('honours Retry-After on a 429 when no limiter is shared', async () => {
    const { llm } = await start({
      faults: [{ match: '2 + 2', status: 429, times: 1, retryAfterSeconds: 1 }],
    });
    const pauses: number[] = [];
    const limited = new LimitedLlm(
      llm,
      undefined,
      { maxRetries: 0, backoffBaseMs: 5, backoffCapMs: 20, maxWaitMs: 5_000 },
      (ms) => {
        pauses.push(ms);
        return Promise.resolve();
      },
    );
    const response = await limited.chat(ask);
    expect(response.callStats).toMatchObject({ calls: 2, rateLimited: 1 });
    expect(pauses).toEqual([1_000]);
  });
});
