/**
 * What `parl probe` measures: bounded parallel chat requests against an OpenAI-compatible endpoint,
 * each timed (sent, first token when the endpoint streams, done) with its status and tokens, and the
 * summary: latency and time-to-first-token percentiles, tokens per second, 429s and 5xx, and the
 * width the endpoint sustains.
 */

/** One probe request as it went. */
export interface ProbeSample {
  index: number;
  /** Requests already in flight when this one was sent. */
  inFlightBefore: number;
  startedMs: number;
  /** Time to the first content token (streamed requests only). */
  ttftMs?: number;
  latencyMs: number;
  status: number;
  outputTokens: number;
  error?: string;
}

export interface ProbeTarget {
  baseUrl: string;
  apiKey: string;
  model: string;
  prompt: string;
  maxTokens: number;
  stream: boolean;
}

const percentile = (xs: readonly number[], q: number): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};

/** Reads an SSE stream of chat chunks: the time of the first content and the completion tokens. */
async function readStream(
  res: Response,
  started: number,
): Promise<{ ttftMs?: number; outputTokens: number; text: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  let ttftMs: number | undefined;
  let outputTokens: number | undefined;
  let text = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    const events = buffer.split('\n');
    buffer = events.pop() ?? '';
    for (const line of events) {
      const data = line.startsWith('data:') ? line.slice(5).trim() : '';
      if (data === '' || data === '[DONE]') continue;
      const parsed = JSON.parse(data) as {
        choices?: { delta?: { content?: string | null; reasoning_content?: string | null } }[];
        usage?: { completion_tokens?: number } | null;
      };
      const delta = parsed.choices?.[0]?.delta;
      const piece = (delta?.content ?? '') + (delta?.reasoning_content ?? '');
      if (piece !== '' && ttftMs === undefined) ttftMs = Date.now() - started;
      text += delta?.content ?? '';
      if (parsed.usage?.completion_tokens !== undefined) outputTokens = parsed.usage.completion_tokens;
    }
  }
  return {
    ...(ttftMs === undefined ? {} : { ttftMs }),
    outputTokens: outputTokens ?? Math.ceil(text.length / 4),
    text,
  };
}

/** Sends one chat request and times it; never throws (a network error is status 0). */
export async function probeOnce(
  target: ProbeTarget,
  index: number,
  inFlightBefore: number,
  t0: number,
): Promise<ProbeSample> {
  const started = Date.now();
  const base = { index, inFlightBefore, startedMs: started - t0 };
  try {
    const res = await fetch(`${target.baseUrl.replace(/\/$/, '')}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${target.apiKey}` },
      body: JSON.stringify({
        model: target.model,
        messages: [{ role: 'user', content: target.prompt }],
        max_tokens: target.maxTokens,
        ...(target.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
      }),
    });
    if (!res.ok) {
      const body = await res.text();
      return {
        ...base,
        latencyMs: Date.now() - started,
        status: res.status,
        outputTokens: 0,
        error: body.slice(0, 200),
      };
    }
    if (target.stream) {
      const { text: _text, ...s } = await readStream(res, started);
      return { ...base, latencyMs: Date.now() - started, status: res.status, ...s };
    }
    const body = (await res.json()) as { usage?: { completion_tokens?: number }; choices?: unknown[] };
    return {
      ...base,
      latencyMs: Date.now() - started,
      status: res.status,
      outputTokens: body.usage?.completion_tokens ?? 0,
    };
  } catch (error) {
    const message =
      error instanceof Error
        ? error.cause instanceof Error
          ? error.cause.message
          : error.message
        : String(error);
    return { ...base, latencyMs: Date.now() - started, status: 0, outputTokens: 0, error: message };
  }
}

/** Sends `requests` requests with at most `concurrency` in flight; resolves with every sample. */
export async function runProbe(target: ProbeTarget, requests: number, concurrency: number) {
  const samples: ProbeSample[] = [];
  const t0 = Date.now();
  let next = 0;
  let inFlight = 0;
  const worker = async () => {
    while (next < requests) {
      const index = next++;
      const before = inFlight++;
      const sample = await probeOnce(target, index, before, t0);
      inFlight--;
      samples.push(sample);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  return { samples: samples.sort((a, b) => a.index - b.index), wallMs: Date.now() - t0 };
}

/** The probe's report. */
export interface ProbeSummary {
  requests: number;
  concurrency: number;
  ok: number;
  rateLimited: number;
  serverErrors: number;
  otherErrors: number;
  wallMs: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  /** null when the endpoint does not stream (then only the whole latency is known). */
  ttftMs: { p50: number | null; p95: number | null; p99: number | null } | null;
  /** Output tokens of all successful requests over the wall-clock, and per request (median). */
  tokensPerSecond: { aggregate: number; perRequestMedian: number | null };
  recommendedWidth: number;
  why: string;
}

/** The most successful requests that were in flight at the same moment (an end before a start at a tie). */
export function peakOverlap(samples: readonly ProbeSample[]): number {
  const events = samples
    .flatMap((s) => [
      { at: s.startedMs, delta: 1 },
      { at: s.startedMs + s.latencyMs, delta: -1 },
    ])
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let peak = 0;
  for (const e of events) {
    now += e.delta;
    peak = Math.max(peak, now);
  }
  return peak;
}

/**
 * The width to run at: with 429s, the concurrency limit the 429 names (Moonshot's message does), else
 * the most answered requests that overlapped (no more than were in flight when a 429 came); without, when requests sent into a fuller queue took 1.5× longer than the first ones
 * (a server that queues, e.g. Ollama), the parallelism it delivered (Little's law: throughput ×
 * unloaded latency); otherwise the probed concurrency (no limit met: probe wider to find one).
 */
export function recommendWidth(samples: readonly ProbeSample[], concurrency: number, wallMs: number) {
  const limited = samples.filter((s) => s.status === 429);
  const ok = samples.filter((s) => s.status >= 200 && s.status < 300);
  if (limited.length > 0) {
    // Moonshot says its limit in the 429: "… max organization concurrency: 50 …".
    const said = limited
      .map((s) => /max organization concurrency:\s*(\d+)/i.exec(s.error ?? '')?.[1])
      .find(Boolean);
    if (said) return { width: Number(said), why: `429s; the endpoint says its concurrency limit is ${said}` };
    const width = Math.max(1, Math.min(peakOverlap(ok), ...limited.map((s) => s.inFlightBefore)));
    return { width, why: `429s; at most ${width} answered requests overlapped` };
  }
  const firstQuarter = ok
    .filter((s) => s.inFlightBefore < Math.max(1, concurrency / 4))
    .map((s) => s.latencyMs);
  const loaded = ok.filter((s) => s.inFlightBefore >= concurrency / 2).map((s) => s.latencyMs);
  const unloaded = percentile(firstQuarter, 0.5);
  const busy = percentile(loaded, 0.5);
  if (unloaded !== null && busy !== null && busy > 1.5 * unloaded) {
    const delivered = (ok.length / (wallMs / 1000)) * (unloaded / 1000);
    const width = Math.max(1, Math.min(concurrency, Math.round(delivered)));
    return {
      width,
      why: `no 429s, but latency grew from ${Math.round(unloaded)} to ${Math.round(busy)} ms with the queue: the endpoint serves about ${width} at once`,
    };
  }
  return {
    width: concurrency,
    why: `no 429s and no queueing up to ${concurrency} in flight (probe wider to find a limit)`,
  };
}

export function summarizeProbe(
  samples: readonly ProbeSample[],
  concurrency: number,
  wallMs: number,
  streamed: boolean,
): ProbeSummary {
  const ok = samples.filter((s) => s.status >= 200 && s.status < 300);
  const lat = ok.map((s) => s.latencyMs);
  const ttft = ok.flatMap((s) => (s.ttftMs === undefined ? [] : [s.ttftMs]));
  const rates = ok.filter((s) => s.latencyMs > 0).map((s) => s.outputTokens / (s.latencyMs / 1000));
  const { width, why } = recommendWidth(samples, concurrency, wallMs);
  return {
    requests: samples.length,
    concurrency,
    ok: ok.length,
    rateLimited: samples.filter((s) => s.status === 429).length,
    serverErrors: samples.filter((s) => s.status >= 500).length,
    otherErrors: samples.filter(
      (s) => s.status === 0 || (s.status >= 400 && s.status < 500 && s.status !== 429),
    ).length,
    wallMs,
    latencyMs: { p50: percentile(lat, 0.5), p95: percentile(lat, 0.95), p99: percentile(lat, 0.99) },
    ttftMs:
      streamed && ttft.length > 0
        ? { p50: percentile(ttft, 0.5), p95: percentile(ttft, 0.95), p99: percentile(ttft, 0.99) }
        : null,
    tokensPerSecond: {
      aggregate: ok.reduce((a, s) => a + s.outputTokens, 0) / (wallMs / 1000),
      perRequestMedian: percentile(rates, 0.5),
    },
    recommendedWidth: width,
    why,
  };
}
