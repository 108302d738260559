import OpenAI from 'openai';
import { deadlineErrorOf } from '#shared/domain/deadline';
import { ProviderRejectedError, RateLimitedError, TransientError } from '#shared/domain/errors';
import type { ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';

/** Models whose temperature the Moonshot API fixes: sending one is an error there. */
const FIXED_TEMPERATURE = /^kimi-k2\.[56]/;

interface ProviderErrorBody {
  error?: { message?: string; type?: string };
  message?: string;
  type?: string;
}

/**
 * The Moonshot API (or any OpenAI-compatible endpoint: Ollama, the built-in simulator) through the
 * `openai` SDK, given a client the factory built. Maps provider failures to TransientError (429,
 * 5xx, timeouts: worth retrying) and ProviderRejectedError (400, 401, 403, 404: never retried).
 */
export class OpenAiLlm implements LlmClient {
  constructor(
    private readonly client: OpenAI,
    readonly model: string,
    private readonly temperature?: number,
  ) {}

  async chat(request: ChatRequest): Promise<ChatResponse> {
    const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
      model: this.model,
      messages: request.messages as OpenAI.Chat.ChatCompletionMessageParam[],
      ...(request.tools ? { tools: request.tools as OpenAI.Chat.ChatCompletionTool[] } : {}),
      ...(request.maxTokens ? { max_tokens: request.maxTokens } : {}),
      ...(request.json ? { response_format: { type: 'json_object' as const } } : {}),
      ...(this.temperature !== undefined && !FIXED_TEMPERATURE.test(this.model)
        ? { temperature: this.temperature }
        : {}),
    };
    let completion: OpenAI.Chat.ChatCompletion;
    try {
      completion = await this.client.chat.completions.create(
        body,
        request.deadline ? { signal: request.deadline.signal } : undefined,
      );
    } catch (error) {
      const { deadline } = request;
      if (deadline?.signal.aborted) throw deadlineErrorOf(deadline.signal, deadline.notAfter);
      throw mapProviderError(error, this.client.baseURL);
    }
    // A proxy or a broken provider may answer 200 with HTML or another non-completion body.
    if (typeof completion !== 'object' || completion === null || !Array.isArray(completion.choices)) {
      throw new TransientError('The provider sent a body that is not a chat completion');
    }
    const choice = completion.choices[0];
    if (!choice) throw new TransientError('The provider returned no choices');
    const usage = completion.usage as (OpenAI.CompletionUsage & { cached_tokens?: number }) | undefined;
    return {
      content: choice.message.content ?? null,
      toolCalls: (choice.message.tool_calls ?? [])
        .filter((c) => c.type === 'function')
        .map((c) => ({
          id: c.id,
          type: 'function' as const,
          function: { name: c.function.name, arguments: c.function.arguments },
        })),
      finishReason: choice.finish_reason ?? 'stop',
      model: completion.model ?? this.model,
      usage: {
        inputTokens: usage?.prompt_tokens ?? 0,
        outputTokens: usage?.completion_tokens ?? 0,
        cachedInputTokens: usage?.cached_tokens ?? usage?.prompt_tokens_details?.cached_tokens ?? 0,
      },
    };
  }
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

/**
 * Turns what the SDK throws into the project's errors, keeping the provider's message and type; a
 * connection failure names the endpoint and the socket's error (`connection refused`).
 */
export function mapProviderError(error: unknown, baseUrl?: string): Error {
  if (error instanceof OpenAI.APIConnectionError) {
    const where = baseUrl ? ` at ${baseUrl}` : '';
    const why = connectionCause(error) ?? error.message;
    return new TransientError(`The provider${where} could not be reached: ${why}`, { cause: error });
  }
  if (error instanceof OpenAI.APIError) {
    const body = (error.error ?? {}) as ProviderErrorBody;
    const type = body.error?.type ?? body.type;
    const message = body.error?.message ?? body.message ?? error.message;
    const status = error.status;
    const text = `Provider answered ${status ?? 'an error'}${type ? ` (${type})` : ''}: ${message}`;
    if (status === undefined || status === 408 || status === 409 || status === 429 || status >= 500) {
      if (type === 'exceeded_current_quota_error')
        return new ProviderRejectedError(text, { status, type }, { cause: error });
      if (status === 429) {
        const retryAfterMs = retryAfterOf(error.headers);
        return new RateLimitedError(
          text,
          { ...(retryAfterMs === undefined ? {} : { retryAfterMs }), ...(type ? { type } : {}) },
          { cause: error },
        );
      }
      return new TransientError(text, { cause: error });
    }
    return new ProviderRejectedError(text, { status, type }, { cause: error });
  }
  if (error instanceof SyntaxError) {
    return new TransientError(`The provider sent a malformed body: ${error.message}`, { cause: error });
  }
  // fetch reports a body cut off mid-way ("terminated") and socket failures as TypeError.
  if (error instanceof TypeError) {
    return new TransientError(`The provider's answer broke off: ${error.message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The wait a 429 asks for: `retry-after-ms` (OpenAI's header), else `retry-after` in seconds or as
 * an HTTP date; undefined when the provider sent neither (Moonshot sometimes does not).
 */
export function retryAfterOf(headers: Headers | undefined, now = Date.now()): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const raw = headers?.get('retry-after');
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
