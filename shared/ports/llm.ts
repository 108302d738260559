import type { CallerRole } from '#shared/domain/provider-limits';
import type { ReservedLease } from './rate-limiter';

/** A chat message in the OpenAI wire format (the Moonshot API speaks it). */
export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  maxTokens?: number;
  json?: boolean;
  /** Who calls, for the shared limiter's priorities and fair share (a decorator reads it). */
  caller?: { role: CallerRole; tenantId: string };
  /**
   * The caller's deadline: aborting it ends the call (waiting or in flight) with its reason, a
   * DeadlineReachedError; `notAfter` (ms since the epoch) bounds the wait for the limiter.
   */
  deadline?: { signal: AbortSignal; notAfter: number };
  /**
   * What must settle before the call is sent (the ledger's authorization of its cost), for a client
   * whose `waitsForReady` is true: it takes its limiter's slot meanwhile, and sends nothing when
   * this rejects (that error is thrown). Other clients never see it (the caller waits first).
   */
  ready?: Promise<unknown>;
  /**
   * A lease taken ahead for this call (a plan's, for a sub-agent's first call), once it is known to
   * be this caller's to use (undefined: it is not): a client behind a limiter passes it on.
   */
  reserved?: Promise<ReservedLease | undefined>;
  /**
   * Told as the request goes to the provider (each time, for a call sent again): work the caller
   * had held back so as not to delay the call can start while the model answers.
   */
  sent?: () => void;
}

/** What one logical model call cost at the provider: calls made (retries included), 429s, time waited, refusals of an open circuit. */
export interface CallStats {
  calls: number;
  rateLimited: number;
  waitedMs: number;
  /**
   * Time the shared limiter spent on its own round trips granting the calls (not waiting), and the
   * time a granted call then waited for its `ready` (the ledger's authorization).
   */
  limiterMs?: number;
  /** Attempts the shared limiter refused because the provider's circuit was open (no call made). */
  circuitOpen?: number;
}

/** The call statistics a retrying client attached to the error it gave up with, if any. */
export function callStatsOf(error: unknown): CallStats | undefined {
  const stats = (error as { callStats?: CallStats } | null)?.callStats;
  return stats && typeof stats.calls === 'number' ? stats : undefined;
}

export interface ChatResponse {
  content: string | null;
  toolCalls: ToolCall[];
  finishReason: string;
  model: string;
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number };
  /** Set by a retrying client: what the call cost at the provider. */
  callStats?: CallStats;
  /**
   * Set by a client whose bookkeeping of this call goes on after the answer (a limiter's release):
   * resolves (never rejects) once it has ended. A function waits for those of its own calls before
   * it returns ({@link LlmClient.settled} of its per-invocation client).
   */
  settling?: Promise<void>;
}

/** One model call. Implementations throw TransientError or ProviderRejectedError. */
export interface LlmClient {
  readonly model: string;
  /** True when the client holds a request until its `ready` has resolved (see {@link ChatRequest.ready}). */
  readonly waitsForReady?: boolean;
  chat(request: ChatRequest): Promise<ChatResponse>;
  /**
   * Waits for the bookkeeping of the calls already answered through this client (a limiter's
   * release runs after the answer is back, off the caller's path). A function awaits it before it
   * returns, so a frozen Lambda holds no lease.
   */
  settled?(): Promise<void>;
}
