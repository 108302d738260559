import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProbeSample, recommendWidth, runProbe, summarizeProbe } from '#cli/commands/probe-measure';
import { main } from '#cli/main';
import { type Simulator, startSimulator } from '#local/simulator/server';

const target = (baseUrl: string) => ({
  baseUrl,
  apiKey: 'none',
  model: 'kimi-k2.5',
  prompt: 'What is 2 + 2?',
  maxTokens: 16,
  stream: false,
});

describe('parl probe against the simulator over HTTP', () => {
  let open: Simulator;
  let limited: Simulator;
  beforeAll(async () => {
    open = await startSimulator({ latencyScale: 0.05 });
    limited = await startSimulator({ latencyScale: 0.2, limits: { maxConcurrency: 3 } });
  });
  afterAll(async () => {
    await open?.close();
    await limited?.close();
  });

  it('sends every request with at most `concurrency` in flight and summarizes them', async () => {
    // Act
    const { samples, wallMs } = await runProbe(target(open.baseUrl), 40, 8);
    const summary = summarizeProbe(samples, 8, wallMs, false);
    // Assess
    expect(samples.map((s) => s.index)).toEqual([...Array(40).keys()]);
    expect(Math.max(...samples.map((s) => s.inFlightBefore))).toBe(7);
    expect(summary).toMatchObject({ requests: 40, ok: 40, rateLimited: 0, serverErrors: 0, ttftMs: null });
    expect(summary.latencyMs.p50!).toBeLessThanOrEqual(summary.latencyMs.p95!);
    expect(summary.latencyMs.p95!).toBeLessThanOrEqual(summary.latencyMs.p99!);
    expect(summary.tokensPerSecond.aggregate).toBeGreaterThan(0);
    expect(summary.recommendedWidth).toBe(8);
  });

  it("counts the provider's 429s and recommends the width it allowed", async () => {
    const { samples, wallMs } = await runProbe(target(limited.baseUrl), 12, 12);
    const summary = summarizeProbe(samples, 12, wallMs, false);
    expect(summary.rateLimited).toBeGreaterThan(0);
    expect(summary.ok + summary.rateLimited).toBe(12);
    // The simulator answers as Moonshot does: "… max organization concurrency: 3 …".
    expect(summary.recommendedWidth).toBe(3);
    expect(summary.why).toContain('concurrency limit is 3');
  });

  it('counts an unreachable endpoint as errors, not answers', async () => {
    const { samples, wallMs } = await runProbe(target('http://127.0.0.1:9/v1'), 3, 3);
    expect(summarizeProbe(samples, 3, wallMs, false)).toMatchObject({ ok: 0, otherErrors: 3 });
  });
});

describe('recommendWidth', () => {
  it('without a limit in the 429s, takes the most answered requests that overlapped', () => {
    const s = (index: number, startedMs: number, latencyMs: number, status = 200): ProbeSample => ({
      index,
      inFlightBefore: index,
      startedMs,
      latencyMs,
      status,
      outputTokens: 1,
      ...(status === 429 ? { error: 'rate limited' } : {}),
    });
    // [0,100) [0,100) [100,200): two overlap at most (an end before a start at a tie); one 429 at 2 in flight
    const r = recommendWidth([s(0, 0, 100), s(1, 0, 100), s(2, 1, 5, 429), s(3, 100, 100)], 4, 200);
    expect(r.width).toBe(2);
  });

  const sample = (inFlightBefore: number, latencyMs: number, status = 200): ProbeSample => ({
    index: inFlightBefore,
    inFlightBefore,
    startedMs: 0,
    latencyMs,
    status,
    outputTokens: 10,
  });

  it('reads a queueing server (one at a time) from the latency growing with the queue', () => {
    // Ollama-like: 8 requests at once, served one after another, 100 ms each: the k-th takes (k+1)·100 ms.
    const samples = Array.from({ length: 8 }, (_, k) => sample(k, (k + 1) * 100));
    const r = recommendWidth(samples, 8, 800);
    expect(r.width).toBe(1);
    expect(r.why).toContain('latency grew');
  });
});

describe('parl probe command line', () => {
  it.each([
    [['probe', '--requests', '0'], /--requests must be an integer from 1/],
    [['probe', '--concurrency', 'many'], /--concurrency must be an integer/],
    [['probe', '--base-url', 'not a url'], /--base-url must be a URL/],
    [['probe', '--bogus'], /unknown option --bogus/],
  ])('refuses %j with exit code 2 and a message naming the flag', async (argv, message) => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof process.stderr.write;
    try {
      expect(await main(argv)).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(written.join('')).toMatch(message);
  });
});
