/**
 * The simulator's `POST /v1/chat/completions`: checks the key and the body, applies fault rules,
 * the provider's limits and injected chaos, answers from the model after a modelled latency, and
 * counts the tokens it hands out.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultRules } from './faults';
import { defaultFaultBody, errorBody, MAX_BODY_BYTES, pause, readBody, sendJson } from './http';
import { answer } from './model';
import { type ChaosFault, type ChaosOptions, type ProviderGate, pickChaos } from './provider';
import { type ReasoningModel, type ThoughtReply, think } from './reasoning';
import {
  cachedTokens,
  completionTokens,
  hashUnit,
  promptTokens,
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

/** What the chat endpoint counts: injected faults and the tokens of successful completions. */
export interface ChatCounters {
  chatRequests: number;
  injected: Record<ChaosFault, number>;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  /**
   * The latency modelled for each chat request that got that far, in the order they were answered
   * from: what an ideal caller would wait (event-loop lag of the process is not in it). Kept only
   * with `recordLatencies`.
   */
  modelledMs: number[];
}

/** What the chat endpoint reads and counts of the running simulator. */
export interface ChatState {
  readonly seed: number;
  readonly verdictErrorRate: number;
  /** The model id reported when a request names none. */
  readonly model: string;
  /** When set, requests with another bearer key get 401. */
  readonly apiKey: string | undefined;
  readonly reasoning: ReasoningModel | undefined;
  /** The latency model, its jitter within 0..1. */
  readonly latency: LatencyModel;
  readonly latencyScale: number;
  /** Whether `counters.modelledMs` keeps each request's modelled latency. */
  readonly recordLatencies: boolean;
  /** Aborts every pending delay when the simulator closes. */
  readonly closing: AbortSignal;
  readonly gate: ProviderGate;
  readonly faults: FaultRules;
  chaos: ChaosOptions;
  chatSerial: number;
  counters: ChatCounters;
}

type Reply = { content: string | null; toolCalls: WireToolCall[]; finishReason: string; completion: number };

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
function limitToMaxTokens(reply: ReturnType<typeof answer>, maxTokens: unknown): Reply {
  const completion = completionTokens(reply.content, reply.toolCalls);
  const limit = typeof maxTokens === 'number' && maxTokens > 0 ? Math.floor(maxTokens) : undefined;
  if (limit === undefined || reply.toolCalls.length > 0 || completion <= limit) {
    return { ...reply, completion };
  }
  const content = (reply.content ?? '').slice(0, limit * 4);
  return { content, toolCalls: [], finishReason: 'length', completion: completionTokens(content, []) };
}

/**
 * Answers one chat completion request.
 *
 * 1. the key, the body (size, JSON), the fault rules, the request's shape
 * 2. the model's reply (with reasoning for a thinking model), cut to `max_tokens`
 * 3. the provider's limits (429) and injected chaos (5xx, hang, slow, broken bodies)
 * 4. the modelled latency, then the completion with its usage, counted
 */
export async function chatCompletion(
  sim: ChatState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const request = await readChatRequest(sim, req, res);
  if (!request) return;
  const settings = { seed: sim.seed, verdictErrorRate: sim.verdictErrorRate };
  const thought = sim.reasoning
    ? think(answer(request, settings), request, sim.seed, sim.reasoning)
    : undefined;
  const reply = limitToMaxTokens(thought ?? answer(request, settings), request.max_tokens);
  const reasoningTokens = thought?.reasoningTokens ?? 0;
  const prompt = promptTokens(request);
  const cached = cachedTokens(request);
  const admitted = sim.gate.admit(Date.now(), prompt);
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
    sim.gate.done(admitted.entry, completion);
  };
  res.once('finish', leave);
  res.once('close', leave);
  const fault = pickChaos(sim.chaos, sim.seed, sim.chatSerial++);
  if (fault) sim.counters.injected[fault] += 1;
  if (fault === 'server-error') {
    const status = [500, 502, 503][sim.chatSerial % 3] as number;
    sendJson(res, status, defaultFaultBody(status));
    return;
  }
  if (fault === 'timeout') {
    // Hang past the client's timeout: the client gives up and closes the connection.
    await pause(sim.chaos.hangMs ?? 600_000, res, sim.closing);
    if (!res.destroyed) res.destroy();
    return;
  }
  await delay(sim, request, prompt - cached, reply.completion + reasoningTokens);
  if (fault === 'slow') await pause(sim.chaos.slowMs ?? 2_000, res, sim.closing);
  if (res.destroyed) return;
  const body = completionBody(sim, request, reply, thought, { prompt, cached, reasoningTokens });
  // A broken body hands out no usable tokens: the client never reads the usage, so none are counted.
  if (fault === 'truncated' || fault === 'non-json') {
    sendBroken(res, fault, body);
    return;
  }
  completion = body.usage.completion_tokens;
  sim.counters.promptTokens += body.usage.prompt_tokens;
  sim.counters.completionTokens += body.usage.completion_tokens;
  sim.counters.cachedTokens += body.usage.cached_tokens;
  sendJson(res, 200, body);
}

/** The request when it may be answered; otherwise answers the error (401, 413, 400, a fault) and returns undefined. */
async function readChatRequest(
  sim: ChatState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<WireRequest | undefined> {
  if (sim.apiKey !== undefined && req.headers.authorization !== `Bearer ${sim.apiKey}`) {
    sendJson(res, 401, errorBody(401, 'Invalid Authentication'));
    return undefined;
  }
  const raw = await readBody(req);
  if (raw === undefined) {
    sendJson(res, 413, errorBody(400, `the request body exceeds ${MAX_BODY_BYTES} bytes`));
    return undefined;
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    sendJson(res, 400, errorBody(400, 'Invalid request: the body is not valid JSON'));
    return undefined;
  }
  if (sim.faults.inject(body, res)) return undefined;
  const invalid = invalidRequest(body);
  if (invalid) {
    sendJson(res, 400, errorBody(400, invalid));
    return undefined;
  }
  return body as WireRequest;
}

/** Waits the modelled latency; the jitter comes from the request's content, not from chance. */
async function delay(
  sim: ChatState,
  request: WireRequest,
  uncached: number,
  completion: number,
): Promise<void> {
  if (sim.latencyScale === 0) {
    if (sim.recordLatencies) sim.counters.modelledMs.push(0);
    return;
  }
  const { latency } = sim;
  const u = 2 * hashUnit(sim.seed, 'latency', JSON.stringify(request)) - 1;
  const base = latency.ttftMs + latency.perInputTokenMs * uncached + latency.perOutputTokenMs * completion;
  const ms = Math.max(0, sim.latencyScale * base * (1 + latency.jitter * u));
  if (sim.recordLatencies) sim.counters.modelledMs.push(ms);
  try {
    await sleep(ms, undefined, { signal: sim.closing });
  } catch {
    // Closed while waiting: the connection is gone, nothing to answer.
  }
}

/** The `chat.completion` body with its usage (cached tokens reported both ways, as Moonshot does). */
function completionBody(
  sim: ChatState,
  request: WireRequest,
  reply: Reply,
  thought: ThoughtReply | undefined,
  tokens: { prompt: number; cached: number; reasoningTokens: number },
) {
  const { prompt, cached, reasoningTokens } = tokens;
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
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof request.model === 'string' && request.model !== '' ? request.model : sim.model,
    choices: [{ index: 0, message, finish_reason: reply.finishReason }],
    usage,
  };
}

/** A broken answer: half a JSON body then a reset connection, or an HTML page instead of JSON. */
function sendBroken(res: ServerResponse, fault: 'truncated' | 'non-json', body: unknown): void {
  if (fault === 'truncated') {
    const text = JSON.stringify(body);
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
    });
    res.write(text.slice(0, Math.floor(text.length / 2)));
    setTimeout(() => res.destroy(), 5);
    return;
  }
  const html = '<html><body><h1>502 Bad Gateway</h1></body></html>';
  res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(html.length) });
  res.end(html);
}
