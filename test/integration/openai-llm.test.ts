import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAiLlm } from '#shared/adapters/llm/openai-llm';
import {
  DeadlineReachedError,
  ProviderRejectedError,
  RateLimitedError,
  TransientError,
} from '#shared/domain/errors';

/** What the server saw of the last request. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

const completion = {
  id: 'c-1',
  object: 'chat.completion',
  model: 'kimi-k2.5',
  choices: [
    {
      index: 0,
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 't-1', type: 'function', function: { name: 'lookup', arguments: '{"id":"a"}' } }],
      },
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 8 } },
};

/** An OpenAI-compatible endpoint on loopback whose next answer each test chooses. */
describe('OpenAiLlm over HTTP', () => {
  let server: Server;
  let base = '';
  let seen: Seen | undefined;
  let answer: (res: ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: JSON.parse(body) };
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;
  });
  beforeEach(() => {
    seen = undefined;
    answer = (res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const ask = { messages: [{ role: 'user' as const, content: 'Look up a' }], maxTokens: 64 };

  it('posts the chat to /chat/completions with the key, and hands back the choice, tool calls and usage', async () => {
    // Prepare
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'sk-test', model: 'kimi-k2.5', temperature: 0.3 });
    // Act
    const response = await llm.chat({ ...ask, json: true });
    // Assess
    expect(seen).toMatchObject({ method: 'POST', url: '/v1/chat/completions' });
    expect(seen?.headers.authorization).toBe('Bearer sk-test');
    expect(seen?.headers['content-type']).toBe('application/json');
    // kimi-k2.5 fixes its temperature: none is sent.
    expect(seen?.body).toEqual({
      model: 'kimi-k2.5',
      messages: ask.messages,
      max_tokens: 64,
      response_format: { type: 'json_object' },
    });
    expect(response).toEqual({
      content: null,
      toolCalls: [{ id: 't-1', type: 'function', function: { name: 'lookup', arguments: '{"id":"a"}' } }],
      finishReason: 'tool_calls',
      model: 'kimi-k2.5',
      usage: { inputTokens: 12, outputTokens: 5, cachedInputTokens: 8 },
    });
  });

  it('tells the caller once the request is on its way, before the answer, and sends nothing of it', async () => {
    // Prepare: the server answers only once the test says so
    let release = () => {};
    answer = (res) => {
      release = () =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion));
    };
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'k', model: 'kimi-k2.5' });
    let told = 0;
    // Act
    const call = llm.chat({ ...ask, sent: () => told++ });
    const toldBeforeAnswer = told;
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await call;
    // Assess
    expect(toldBeforeAnswer).toBe(1);
    expect(told).toBe(1);
    expect(Object.keys(seen?.body ?? {}).sort()).toEqual(['max_tokens', 'messages', 'model']);
  });

  it('sends a temperature to a model that takes one', async () => {
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'k', model: 'llama3.1', temperature: 0.3 });
    await llm.chat(ask);
    expect(seen?.body).toMatchObject({ model: 'llama3.1', temperature: 0.3 });
  });

  it.each([
    [429, { error: { type: 'rate_limit_reached_error', message: 'slow down' } }, { 'retry-after-ms': '250' }],
    [429, { error: { type: 'rate_limit_reached_error', message: 'slow down' } }, { 'retry-after': '2' }],
  ])('maps a %i to RateLimitedError with its Retry-After', async (status, body, headers) => {
    answer = (res) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'k', model: 'kimi-k2.5' });
    const error = await llm.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({
      type: 'rate_limit_reached_error',
      retryAfterMs: 'retry-after-ms' in headers ? 250 : 2_000,
    });
    expect((error as Error).message).toBe('Provider answered 429 (rate_limit_reached_error): slow down');
  });

  it.each([
    [429, 'exceeded_current_quota_error', ProviderRejectedError],
    [403, 'exceeded_current_quota_error', ProviderRejectedError],
    [404, 'resource_not_found_error', ProviderRejectedError],
    [400, 'invalid_request_error', ProviderRejectedError],
    [503, 'engine_overloaded_error', TransientError],
    [409, undefined, TransientError],
  ])('maps a %i (%s) to %o', async (status, type, kind) => {
    answer = (res) =>
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { type, message: 'why' } }));
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'k', model: 'kimi-k2.5' });
    const error = await llm.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(kind);
    expect(error).not.toBeInstanceOf(RateLimitedError);
    expect((error as Error).message).toBe(`Provider answered ${status}${type ? ` (${type})` : ''}: why`);
  });

  it('quotes the start of an error body that is not JSON', async () => {
    answer = (res) =>
      res.writeHead(502, { 'content-type': 'text/html' }).end(`<html>${'x'.repeat(1000)}</html>`);
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'k', model: 'kimi-k2.5' });
    const error = await llm.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe(`Provider answered 502: <html>${'x'.repeat(294)}`);
  });

  it('names the endpoint and the time waited when no answer comes in time', async () => {
    answer = () => undefined; // never answers
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'k', model: 'kimi-k2.5', timeoutMs: 200 });
    const error = await llm.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe(
      `The provider at ${base} could not be reached: timed out after 200 ms`,
    );
  });

  it('names connection refused and the endpoint nobody listens on', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const llm = new OpenAiLlm({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: 'k', model: 'kimi-k2.5' });
    const error = await llm.chat(ask).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toBe(
      `The provider at http://127.0.0.1:${port}/v1 could not be reached: connection refused (ECONNREFUSED)`,
    );
  });

  it('stops at the caller’s deadline with a DeadlineReachedError, not a provider failure', async () => {
    answer = () => undefined; // never answers
    const llm = new OpenAiLlm({ baseUrl: base, apiKey: 'k', model: 'kimi-k2.5' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await llm
      .chat({ ...ask, deadline: { signal: controller.signal, notAfter: Date.now() + 50 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineReachedError);
  });
});
