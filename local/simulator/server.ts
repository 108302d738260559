/**
 * The built-in Moonshot simulator: an OpenAI-compatible HTTP server on loopback that plays the
 * Moonshot/Kimi API for the local runtime and the tests, with only `node:http`.
 *
 * It reads each request the way a model would (see `./simulator/model`), answers
 * deterministically from a hash of (seed, content), charges tokens like the real API (including
 * the context-cache discount), waits a modelled latency, and fails on demand (fault rules).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { answer } from './model';
import {
  type ChaosFault,
  type ChaosOptions,
  type GateStats,
  ProviderGate,
  pickChaos,
  type SimulatedLimits,
} from './provider';
import { type ReasoningModel, think } from './reasoning';
import {
  cachedTokens,
  completionTokens,
  hashUnit,
  promptTokens,
  type WireMessage,
  type WireRequest,
  type WireToolCall,
} from './wire';

/**
 * How long a reply takes: time to first token, prefill per uncached input token, decoding per
 * output token, and a deterministic jitter (a fraction, 0..1, of the total either way).
 */
export interface LatencyModel {
  ttftMs: number;
  perInputTokenMs: number;
  perOutputTokenMs: number;
  jitter: number;
}

/** A latency in the range of a hosted Kimi model. */
export const DEFAULT_LATENCY: LatencyModel = {
  ttftMs: 150,
  perInputTokenMs: 0.05,
  perOutputTokenMs: 8,
  jitter: 0.2,
};

/**
 * Makes matching chat requests fail, before anything else is looked at.
 *
 * @example Two rate-limit errors for one installation, then normal answers:
 * `{ match: 'BMA-0007', status: 429, times: 2, retryAfterSeconds: 1 }`
 */
export interface FaultRule {
  /** Substring searched in the JSON serialization of the request's `messages`. */
  match: string;
  /** HTTP status to answer with, e.g. 500, 429, 403. */
  status: number;
  /** How many matching requests fail; every one when unset. */
  times?: number;
  /** The response body; a Moonshot-style `{error: {message, type}}` for the status when unset. */
  body?: unknown;
  /** Sends a `Retry-After` header with this many seconds. */
  retryAfterSeconds?: number;
}

/** How to start the simulator; every field has a default. */
export interface SimulatorOptions {
  /** Interface to listen on; 127.0.0.1 by default. */
  host?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Seed of every deterministic choice (default 1). */
  seed?: number;
  /** Multiplies every delay (default 1); 0 answers at once. */
  latencyScale?: number;
  /** Overrides parts of DEFAULT_LATENCY. */
  latency?: Partial<LatencyModel>;
  /** Share of BMA verdicts the model gets wrong, 0..1 (default 0). */
  verdictErrorRate?: number;
  faults?: FaultRule[];
  /** The model id served by `/v1/models` and reported when a request names none (default 'kimi-k2.5'). */
  model?: string;
  /** When set, requests with another bearer key get 401. */
  apiKey?: string;
  /** A thinking model: sub-agents reason up to their output budget (see `./simulator/reasoning`). Off by default. */
  reasoning?: ReasoningModel;
  /** Limits enforced with Moonshot's 429 bodies (none by default). */
  limits?: SimulatedLimits;
  /** Faults at configured rates (none by default). */
  chaos?: ChaosOptions;
}

export type { ChaosOptions, SimulatedLimits };

/**
 * Counters since start (or the last `resetStats()`). `requests` counts every HTTP request; tokens
 * count only successful chat completions: exactly the `usage` handed out.
 */
export interface SimulatorStats {
  requests: number;
  succeeded: number;
  failed: number;
  inFlight: number;
  maxInFlight: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  byStatus: Record<string, number>;
}

/** What the provider-limits side of the simulator saw since start (or the last `resetStats()`). */
export interface ProviderStats {
  /** Chat completion requests (POST), whatever their outcome. */
  chatRequests: number;
  /** The limits' view: 429s it answered, admitted requests, in flight, most requests in one window. */
  limits: GateStats;
  /** Faults injected at the configured rates. */
  injected: Record<ChaosFault, number>;
}

/** A running simulator. */
export interface Simulator {
  /** The OpenAI-style base URL, e.g. `http://127.0.0.1:41234/v1`. */
  baseUrl: string;
  port: number;
  stats(): SimulatorStats;
  /** Limits and injected faults: 429s, max in flight, requests per window, faults. */
  providerStats(): ProviderStats;
  resetStats(): void;
  /** Replaces the fault rules (and their remaining `times`). */
  setFaults(faults: FaultRule[]): void;
  /** Replaces the enforced limits. */
  setLimits(limits: SimulatedLimits): void;
  /** Replaces the fault rates. */
  setChaos(chaos: ChaosOptions): void;
  /** Stops listening and drops open connections and pending delays. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Moonshot's error type per HTTP status (what its API answers in `error.type`). */
function errorTypeFor(status: number): string {
  if (status === 400) return 'invalid_request_error';
  if (status === 401) return 'invalid_authentication_error';
  if (status === 403) return 'exceeded_current_quota_error';
  if (status === 404) return 'resource_not_found_error';
  if (status === 429) return 'rate_limit_reached_error';
  if (status >= 500) return 'engine_overloaded_error';
  return 'invalid_request_error';
}

const errorBody = (status: number, message: string) => ({ error: { message, type: errorTypeFor(status) } });

/** The body of an injected fault when the rule brings none. */
export function defaultFaultBody(status: number, retryAfterSeconds?: number): unknown {
  if (status === 429) {
    const wait = retryAfterSeconds ?? 1;
    return errorBody(
      429,
      `Your account simulator request reached organization max RPM, please try again after ${wait} seconds`,
    );
  }
  if (status === 403) {
    return errorBody(
      403,
      'Your account simulator is suspended due to insufficient balance, please recharge your account or check your plan and billing details',
    );
  }
  if (status >= 500) return errorBody(status, 'The engine is currently overloaded, please try again later');
  return errorBody(status, `Simulated fault (HTTP ${status})`);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Why a parsed body is not a chat completion request we answer, or undefined when it is. */
function invalidRequest(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'the request body must be a JSON object';
  const { messages, stream } = body as Record<string, unknown>;
  if (stream === true) return 'stream is not supported by the simulator';
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must be a non-empty array';
  if (messages.some((m) => typeof m !== 'object' || m === null)) return 'every message must be an object';
  return undefined;
}

/** Applies `max_tokens` the way the real API does: cut the text and report `length`. */
function limitToMaxTokens(
  reply: ReturnType<typeof answer>,
  maxTokens: unknown,
): { content: string | null; toolCalls: WireToolCall[]; finishReason: string; completion: number } {
  const completion = completionTokens(reply.content, reply.toolCalls);
  const limit = typeof maxTokens === 'number' && maxTokens > 0 ? Math.floor(maxTokens) : undefined;
  if (limit === undefined || reply.toolCalls.length > 0 || completion <= limit) {
    return { ...reply, completion };
  }
  const content = (reply.content ?? '').slice(0, limit * 4);
  return { content, toolCalls: [], finishReason: 'length', completion: completionTokens(content, []) };
}

/**
 * Starts the simulator on loopback and resolves once it listens.
 *
 * @example
 * const sim = await startSimulator({ latencyScale: 0 });
 * const client = new OpenAI({ baseURL: sim.baseUrl, apiKey: 'any' });
 * // …
 * await sim.close();
 */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const host = opts.host ?? '127.0.0.1';
  const seed = opts.seed ?? 1;
  const latencyScale = Math.max(0, opts.latencyScale ?? 1);
  const latency: LatencyModel = { ...DEFAULT_LATENCY, ...opts.latency };
  const jitter = Math.min(1, Math.max(0, latency.jitter));
  const settings = { seed, verdictErrorRate: opts.verdictErrorRate ?? 0 };
  const model = opts.model ?? 'kimi-k2.5';
  const closing = new AbortController();

  let faults: { rule: FaultRule; left: number }[] = [];
  const setFaults = (rules: FaultRule[]): void => {
    faults = rules.map((rule) => ({ rule, left: rule.times ?? Number.POSITIVE_INFINITY }));
  };
  setFaults(opts.faults ?? []);

  const gate = new ProviderGate(opts.limits ?? {});
  let chaos: ChaosOptions = { ...opts.chaos };
  let chatSerial = 0;

  type Counters = Omit<SimulatorStats, 'inFlight' | 'maxInFlight'> & Omit<ProviderStats, 'limits'>;
  const emptyCounters = (): Counters => ({
    chatRequests: 0,
    injected: { 'server-error': 0, timeout: 0, slow: 0, truncated: 0, 'non-json': 0 },
    requests: 0,
    succeeded: 0,
    failed: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    byStatus: {},
  });
  let counters = emptyCounters();
  // In flight survives resetStats(): those requests are still running.
  let inFlight = 0;
  let maxInFlight = 0;

  const server = createServer((req, res) => {
    counters.requests += 1;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // Count every request once, however it ends (answered, failed, or dropped by the client).
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      inFlight -= 1;
      const status = String(res.headersSent ? res.statusCode : 499);
      counters.byStatus[status] = (counters.byStatus[status] ?? 0) + 1;
      if (status === '200') counters.succeeded += 1;
      else counters.failed += 1;
    };
    res.once('finish', finish);
    res.once('close', finish);
    route(req, res).catch((error: unknown) => {
      sendJson(
        res,
        500,
        errorBody(500, `simulator error: ${error instanceof Error ? error.message : String(error)}`),
      );
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, { object: 'list', data: [{ id: model, object: 'model', owned_by: 'moonshot' }] });
      return;
    }
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      counters.chatRequests += 1;
      await chatCompletion(req, res);
      return;
    }
    sendJson(res, 404, errorBody(404, `Not found: ${req.method} ${path || '/'}`));
  }

  async function chatCompletion(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      sendJson(res, 401, errorBody(401, 'Invalid Authentication'));
      return;
    }
    const raw = await readBody(req);
    if (raw === undefined) {
      sendJson(res, 413, errorBody(400, `the request body exceeds ${MAX_BODY_BYTES} bytes`));
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      sendJson(res, 400, errorBody(400, 'Invalid request: the body is not valid JSON'));
      return;
    }
    if (injectFault(body, res)) return;
    const invalid = invalidRequest(body);
    if (invalid) {
      sendJson(res, 400, errorBody(400, invalid));
      return;
    }
    const request = body as WireRequest;
    const thought = opts.reasoning
      ? think(answer(request, settings), request, seed, opts.reasoning)
      : undefined;
    const reply = limitToMaxTokens(thought ?? answer(request, settings), request.max_tokens);
    const reasoningTokens = thought?.reasoningTokens ?? 0;
    const prompt = promptTokens(request);
    const cached = cachedTokens(request);
    const admitted = gate.admit(Date.now(), prompt);
    if (!admitted.ok) {
      sendJson(res, 429, admitted.rejection.body, admitted.rejection.headers);
      return;
    }
    let completion = 0;
    // Out of flight once the last byte is sent ('finish'), before the client can read it and call
    // again; 'close' covers a client that hung up.
    let out = false;
    const leave = () => {
      if (out) return;
      out = true;
      gate.done(admitted.entry, completion);
    };
    res.once('finish', leave);
    res.once('close', leave);
    const fault = pickChaos(chaos, seed, chatSerial++);
    if (fault) counters.injected[fault] += 1;
    if (fault === 'server-error') {
      const status = [500, 502, 503][chatSerial % 3] as number;
      sendJson(res, status, defaultFaultBody(status));
      return;
    }
    if (fault === 'timeout') {
      // Hang past the client's timeout: the client gives up and closes the connection.
      await pause(chaos.hangMs ?? 600_000, res);
      if (!res.destroyed) res.destroy();
      return;
    }
    await delay(request, prompt, cached, reply.completion + reasoningTokens);
    if (fault === 'slow') await pause(chaos.slowMs ?? 2_000, res);
    if (res.destroyed) return;

    const message: {
      role: 'assistant';
      content: string | null;
      reasoning_content?: string;
      tool_calls?: WireToolCall[];
    } = {
      role: 'assistant',
      content: reply.content,
      ...(thought && reasoningTokens > 0 ? { reasoning_content: thought.reasoning } : {}),
      ...(reply.toolCalls.length > 0 ? { tool_calls: reply.toolCalls } : {}),
    };
    const usage = {
      prompt_tokens: prompt,
      completion_tokens: reply.completion + reasoningTokens,
      total_tokens: prompt + reply.completion + reasoningTokens,
      cached_tokens: cached,
      prompt_tokens_details: { cached_tokens: cached },
    };
    const completionBody = {
      id: `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: typeof request.model === 'string' && request.model !== '' ? request.model : model,
      choices: [{ index: 0, message, finish_reason: reply.finishReason }],
      usage,
    };
    // A broken body hands out no usable tokens: the client never reads the usage, so none are counted.
    if (fault === 'truncated') {
      const text = JSON.stringify(completionBody);
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(text)),
      });
      res.write(text.slice(0, Math.floor(text.length / 2)));
      setTimeout(() => res.destroy(), 5);
      return;
    }
    if (fault === 'non-json') {
      const html = '<html><body><h1>502 Bad Gateway</h1></body></html>';
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(html.length) });
      res.end(html);
      return;
    }
    completion = usage.completion_tokens;
    counters.promptTokens += usage.prompt_tokens;
    counters.completionTokens += usage.completion_tokens;
    counters.cachedTokens += usage.cached_tokens;
    sendJson(res, 200, completionBody);
  }

  /** Waits `ms`, or less when the client hangs up or the simulator closes. */
  async function pause(ms: number, res: ServerResponse): Promise<void> {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    try {
      await sleep(ms, undefined, { signal: AbortSignal.any([closing.signal, gone.signal]) });
    } catch {
      // the client or the simulator went away
    } finally {
      res.off('close', onClose);
    }
  }

  /** Answers with the first matching fault rule that has `times` left; true when one did. */
  function injectFault(body: unknown, res: ServerResponse): boolean {
    if (faults.length === 0) return false;
    const messages = (body as { messages?: WireMessage[] } | null)?.messages;
    const haystack = JSON.stringify(messages ?? null);
    const hit = faults.find((f) => f.left > 0 && haystack.includes(f.rule.match));
    if (!hit) return false;
    hit.left -= 1;
    const { status, retryAfterSeconds } = hit.rule;
    const headers: Record<string, string> =
      retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
    sendJson(res, status, hit.rule.body ?? defaultFaultBody(status, retryAfterSeconds), headers);
    return true;
  }

  /** Waits the modelled latency; the jitter comes from the request's content, not from chance. */
  async function delay(
    request: WireRequest,
    prompt: number,
    cached: number,
    completion: number,
  ): Promise<void> {
    if (latencyScale === 0) return;
    const u = 2 * hashUnit(seed, 'latency', JSON.stringify(request)) - 1;
    const base =
      latency.ttftMs + latency.perInputTokenMs * (prompt - cached) + latency.perOutputTokenMs * completion;
    const ms = Math.max(0, latencyScale * base * (1 + jitter * u));
    try {
      await sleep(ms, undefined, { signal: closing.signal });
    } catch {
      // Closed while waiting: the connection is gone, nothing to answer.
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;

  return {
    baseUrl: `http://${urlHost}:${port}/v1`,
    port,
    providerStats: () => ({
      chatRequests: counters.chatRequests,
      injected: { ...counters.injected },
      limits: gate.stats(),
    }),
    stats: () => ({
      requests: counters.requests,
      succeeded: counters.succeeded,
      failed: counters.failed,
      inFlight,
      maxInFlight,
      promptTokens: counters.promptTokens,
      completionTokens: counters.completionTokens,
      cachedTokens: counters.cachedTokens,
      byStatus: { ...counters.byStatus },
    }),
    resetStats: () => {
      counters = emptyCounters();
      maxInFlight = inFlight;
      gate.resetStats();
    },
    setFaults,
    setLimits: (limits) => gate.setLimits(limits),
    setChaos: (next) => {
      chaos = { ...next };
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
