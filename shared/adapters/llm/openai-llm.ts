import type OpenAI from 'openai';
import { type Dispatcher, request } from 'undici';
import { deadlineErrorOf } from '#shared/domain/deadline';
import { ProviderRejectedError, RateLimitedError, TransientError } from '#shared/domain/errors';
import type { ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';

/** Models whose temperature the Moonshot API fixes: sending one is an error there. */
const FIXED_TEMPERATURE = /^kimi-k2\.[56]/;

/** How long a call may take when the caller sets nothing (the `openai` SDK's default). */
const DEFAULT_TIMEOUT_MS = 600_000;

/** The most of an error body a message quotes. */
const QUOTED_BODY_CHARS = 300;

interface ProviderErrorBody {
  error?: { message?: string; type?: string };
  message?: string;
  type?: string;
}

/** Where and how to reach an OpenAI-compatible endpoint. */
export interface OpenAiEndpoint {
  /** Its base URL, `/chat/completions` is appended (`https://api.moonshot.ai/v1`). */
  baseUrl: string;
  apiKey: string;
  model: string;
  /** The longest a call may take, its answer read whole (default 600 s). */
  timeoutMs?: number;
  /** Sent only to models that accept one (never to kimi-k2.5/k2.6). */
  temperature?: number;
}

/** A response's headers as undici hands them over. */
type RawHeaders = Dispatcher.ResponseData['headers'];

/**
 * The Moonshot API (or any OpenAI-compatible endpoint: Ollama, the built-in simulator): one
 * `POST /chat/completions` through undici's `request`, the answer read whole. Provider failures
 * become TransientError (429, 5xx, timeouts, broken answers: worth retrying) and
 * ProviderRejectedError (400, 401, 403, 404, an exhausted quota: never retried); this client
 * retries nothing itself ({@link LimitedLlm} does).
 *
 * Not the `openai` SDK's client (its types still describe the body): every local job's sub-agents
 * share one thread, and a call through the SDK cost that thread 160–240 µs against 40–55 µs this
 * way (100 calls at once against the simulator, warm).
 *
 * @example
 * const llm = new OpenAiLlm({ baseUrl: 'https://api.moonshot.ai/v1', apiKey, model: 'kimi-k2.5' });
 * const { content, usage } = await llm.chat({ messages: [{ role: 'user', content: 'Hi' }] });
 */
export class OpenAiLlm implements LlmClient {
  readonly model: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly endpoint: OpenAiEndpoint) {
    this.model = endpoint.model;
    this.url = `${endpoint.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.headers = {
      authorization: `Bearer ${endpoint.apiKey}`,
      'content-type': 'application/json',
      accept: 'application/json',
    };
  }

  get baseUrl(): string {
    return this.endpoint.baseUrl;
  }

  async chat(chat: ChatRequest): Promise<ChatResponse> {
    const { temperature } = this.endpoint;
    const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
      model: this.model,
      messages: chat.messages as OpenAI.Chat.ChatCompletionMessageParam[],
      ...(chat.tools ? { tools: chat.tools as OpenAI.Chat.ChatCompletionTool[] } : {}),
      ...(chat.maxTokens ? { max_tokens: chat.maxTokens } : {}),
      ...(chat.json ? { response_format: { type: 'json_object' as const } } : {}),
      ...(temperature !== undefined && !FIXED_TEMPERATURE.test(this.model) ? { temperature } : {}),
    };
    const { deadline } = chat;
    const stopped = () => deadline?.signal.aborted && deadlineErrorOf(deadline.signal, deadline.notAfter);
    const timeoutMs = this.endpoint.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // The whole call within the timeout, body included: the limiter's lease outlives it by design.
    const timer = AbortSignal.timeout(timeoutMs);
    const signal = deadline ? AbortSignal.any([deadline.signal, timer]) : timer;
    const failed = (error: unknown, got: (error: unknown) => Error) =>
      stopped() || (timer.aborted ? timedOut(this.endpoint.baseUrl, timeoutMs, error) : got(error));
    let answer: Dispatcher.ResponseData;
    try {
      const sending = request(this.url, {
        method: 'POST',
        headers: this.headers,
        body: JSON.stringify(body),
        signal,
      });
      chat.sent?.();
      answer = await sending;
    } catch (error) {
      throw failed(error, (e) => unreachable(e, this.endpoint.baseUrl));
    }
    let text: string;
    try {
      text = await answer.body.text();
    } catch (error) {
      throw failed(error, brokenOff);
    }
    if (answer.statusCode >= 400) throw providerError(answer.statusCode, text, answer.headers);
    return completionOf(text, headerOf(answer.headers, 'content-type'), this.model);
  }
}

/**
 * The answer of a 200: the first choice, its tool calls and the usage. A body that is not JSON (a
 * proxy's HTML page) is no chat completion; one that says it is JSON and does not parse is malformed.
 */
function completionOf(text: string, contentType: string | undefined, model: string): ChatResponse {
  if (!contentType?.includes('json'))
    throw new TransientError('The provider sent a body that is not a chat completion');
  let completion: OpenAI.Chat.ChatCompletion;
  try {
    completion = JSON.parse(text) as OpenAI.Chat.ChatCompletion;
  } catch (error) {
    throw new TransientError(`The provider sent a malformed body: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // A proxy or a broken provider may answer 200 with HTML or another non-completion body.
  if (typeof completion !== 'object' || completion === null || !Array.isArray(completion.choices)) {
    throw new TransientError('The provider sent a body that is not a chat completion');
  }
  const choice = completion.choices[0];
  if (!choice) throw new TransientError('The provider returned no choices');
  const usage = completion.usage as (OpenAI.CompletionUsage & { cached_tokens?: number }) | undefined;
  return {
    content: choice.message?.content ?? null,
    toolCalls: (choice.message?.tool_calls ?? [])
      .filter((c) => c.type === 'function')
      .map((c) => ({
        id: c.id,
        type: 'function' as const,
        function: { name: c.function.name, arguments: c.function.arguments },
      })),
    finishReason: choice.finish_reason ?? 'stop',
    model: completion.model ?? model,
    usage: {
      inputTokens: usage?.prompt_tokens ?? 0,
      outputTokens: usage?.completion_tokens ?? 0,
      cachedInputTokens: usage?.cached_tokens ?? usage?.prompt_tokens_details?.cached_tokens ?? 0,
    },
  };
}

const CONNECTION_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
};

/**
 * What lies under a connection failure: the socket's error (`connection refused (ECONNREFUSED)`),
 * else the innermost cause's message (fetch's `bad port` for a port it never dials, such as 9).
 */
export function connectionCause(error: unknown): string | undefined {
  let current: unknown = error;
  let innermost: string | undefined;
  for (let depth = 0; depth < 6 && current; depth++) {
    const e = current as { code?: unknown; errors?: unknown[]; cause?: unknown; message?: unknown };
    if (typeof e.code === 'string' && CONNECTION_CODES[e.code])
      return `${CONNECTION_CODES[e.code]} (${e.code})`;
    if (typeof e.message === 'string' && e.message !== '') innermost = e.message;
    current = e.cause ?? e.errors?.[0];
  }
  return innermost;
}

/** A call that got no answer: the endpoint and the socket's error. */
function unreachable(error: unknown, baseUrl: string): TransientError {
  const why = connectionCause(error) ?? String(error);
  return new TransientError(`The provider at ${baseUrl} could not be reached: ${why}`, { cause: error });
}

/** A call that took longer than its timeout. */
function timedOut(baseUrl: string, timeoutMs: number, error: unknown): TransientError {
  return new TransientError(
    `The provider at ${baseUrl} could not be reached: timed out after ${timeoutMs} ms`,
    {
      cause: error,
    },
  );
}

/** An answer whose body broke off after its headers came. */
function brokenOff(error: unknown): TransientError {
  const why = error instanceof Error ? error.message : String(error);
  return new TransientError(`The provider's answer broke off: ${why}`, { cause: error });
}

/**
 * An error answer as the project's error, keeping the provider's message and type: 408, 409, 429
 * and 5xx are worth a retry (a 429 with its Retry-After), an exhausted quota and the other 4xx
 * are not.
 */
export function providerError(status: number, text: string, headers: RawHeaders = {}): Error {
  let parsed: ProviderErrorBody | undefined;
  try {
    parsed = JSON.parse(text) as ProviderErrorBody;
  } catch {
    parsed = undefined;
  }
  const inner = parsed?.error ?? parsed;
  const type = typeof inner?.type === 'string' ? inner.type : undefined;
  const message =
    typeof inner?.message === 'string' ? inner.message : text.slice(0, QUOTED_BODY_CHARS) || 'no body';
  const described = `Provider answered ${status}${type ? ` (${type})` : ''}: ${message}`;
  if (type === 'exceeded_current_quota_error') return new ProviderRejectedError(described, { status, type });
  if (status === 429) {
    const retryAfterMs = retryAfterOf((name) => headerOf(headers, name));
    return new RateLimitedError(described, {
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(type ? { type } : {}),
    });
  }
  if (status === 408 || status === 409 || status >= 500) return new TransientError(described);
  return new ProviderRejectedError(described, { status, type });
}

/** One response header's value (the first, if it came more than once). */
function headerOf(headers: RawHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The wait a 429 asks for: `retry-after-ms` (OpenAI's header), else `retry-after` in seconds or as
 * an HTTP date; undefined when the provider sent neither (Moonshot sometimes does not).
 */
export function retryAfterOf(
  header: (name: string) => string | null | undefined,
  now = Date.now(),
): number | undefined {
  const ms = header('retry-after-ms');
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const raw = header('retry-after');
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
