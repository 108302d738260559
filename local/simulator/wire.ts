/**
 * What the Moonshot simulator reads off the wire: loosely typed chat requests, a token estimate
 * and the deterministic hashing every "random" choice of the simulator is derived from.
 */
import { createHash } from 'node:crypto';

/** One message as it arrives: the simulator trusts nothing about its shape. */
export interface WireMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

/** A chat completion request body after JSON parsing and the `messages` check. */
export interface WireRequest {
  model?: unknown;
  messages: WireMessage[];
  tools?: unknown;
  max_tokens?: unknown;
  response_format?: unknown;
  stream?: unknown;
}

/** An OpenAI-style function call, as the simulator emits it. */
export interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** The text of a message content: a string, or the text parts of a multi-part content. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) =>
      part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string'
        ? (part as { text: string }).text
        : '',
    )
    .join('');
}

/** The function calls an assistant message carries (name and arguments only; malformed ones skipped). */
export function toolCallsOf(message: WireMessage): { id: string; name: string; arguments: string }[] {
  if (!Array.isArray(message.tool_calls)) return [];
  const calls: { id: string; name: string; arguments: string }[] = [];
  for (const call of message.tool_calls as unknown[]) {
    const fn = (call as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
    if (!fn || typeof fn.name !== 'string') continue;
    const id = (call as { id?: unknown }).id;
    calls.push({
      id: typeof id === 'string' ? id : '',
      name: fn.name,
      arguments: typeof fn.arguments === 'string' ? fn.arguments : '',
    });
  }
  return calls;
}

/** The token estimate of a text: one token per four characters, rounded up. */
export const tokensOf = (text: string): number => Math.ceil(text.length / 4);

/** Per-message overhead of the chat format (role markers and separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** The tokens of one message: its content, its tool-call arguments and the per-message overhead. */
export function messageTokens(message: WireMessage): number {
  const args = toolCallsOf(message).reduce((sum, call) => sum + tokensOf(call.arguments), 0);
  return MESSAGE_OVERHEAD_TOKENS + tokensOf(textOf(message.content)) + args;
}

/** `prompt_tokens`: every message plus the JSON of the tool definitions when present. */
export function promptTokens(request: WireRequest): number {
  const messages = request.messages.reduce((sum, m) => sum + messageTokens(m), 0);
  const tools =
    request.tools === undefined || request.tools === null ? 0 : tokensOf(JSON.stringify(request.tools));
  return messages + tools;
}

/**
 * `cached_tokens`: the messages up to and including the last assistant message, i.e. the previous
 * turn's prefix a provider keeps in its context cache. 0 on a first turn.
 */
export function cachedTokens(request: WireRequest): number {
  const last = request.messages.findLastIndex((m) => m.role === 'assistant');
  return request.messages.slice(0, last + 1).reduce((sum, m) => sum + messageTokens(m), 0);
}

/** The completion tokens of a reply: its content and its tool calls, at least 1. */
export function completionTokens(content: string | null, toolCalls: readonly WireToolCall[]): number {
  const calls = toolCalls.reduce((sum, c) => sum + tokensOf(c.function.name + c.function.arguments), 0);
  return Math.max(1, tokensOf(content ?? '') + calls);
}

const digest = (parts: readonly (string | number)[]): Buffer =>
  createHash('sha256').update(parts.map(String).join('\u0000')).digest();

/** A number in [0, 1) derived from the parts alone: the same parts give the same number, always. */
export function hashUnit(...parts: (string | number)[]): number {
  return digest(parts).readUIntBE(0, 6) / 2 ** 48;
}

/** A hex string of `length` characters derived from the parts alone. */
export function hashHex(length: number, ...parts: (string | number)[]): string {
  return digest(parts).toString('hex').slice(0, length);
}
