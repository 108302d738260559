import type { Role, StepRecord } from '#shared/domain/types';
import type { JobRef, StepRecorder } from '#shared/ports/job-store';
import {
  type CallStats,
  type ChatRequest,
  type ChatResponse,
  callStatsOf,
  type LlmClient,
} from '#shared/ports/llm';

/** Where a step belongs: job, stage, who, which step of theirs, which invocation. */
export interface StepContext {
  ref: JobRef;
  stage: number;
  role: Role;
  agentId: string;
  step: number;
  attempt: number;
}

/** The step fields of a retrying client's statistics (absent for a plain client). */
const statsFields = (stats: CallStats | undefined) =>
  stats ? { calls: stats.calls, rateLimited: stats.rateLimited, waitedMs: Math.round(stats.waitedMs) } : {};

/**
 * Makes one model call and records it as one step, also when it fails (then with no tokens and the
 * error), so every call the provider saw leaves a record. Retries happen inside the client: the
 * step is recorded once, with how many provider calls it took (`calls`, `rateLimited`).
 */
export async function modelStep(
  deps: { llm: LlmClient; steps: StepRecorder },
  ctx: StepContext,
  request: ChatRequest,
): Promise<ChatResponse> {
  const started = Date.now();
  const base = {
    stage: ctx.stage,
    role: ctx.role,
    agentId: ctx.agentId,
    step: ctx.step,
    attempt: ctx.attempt,
  };
  try {
    const response = await deps.llm.chat({
      ...request,
      caller: { role: ctx.role === 'main' ? 'orchestrator' : 'subagent', tenantId: ctx.ref.tenantId },
    });
    const ended = Date.now();
    const record: StepRecord = {
      ...base,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      // The model's time: waiting for the shared limiter and between retries is `waitedMs`, not work.
      durationMs: Math.max(0, ended - started - Math.round(response.callStats?.waitedMs ?? 0)),
      inputTokens: response.usage.inputTokens,
      outputTokens: response.usage.outputTokens,
      cachedInputTokens: response.usage.cachedInputTokens,
      status: 'SUCCEEDED',
      model: response.model,
      finishReason: response.finishReason,
      ...(response.toolCalls.length > 0 ? { toolCalls: response.toolCalls.map((c) => c.function.name) } : {}),
      ...statsFields(response.callStats),
    };
    await deps.steps.recordStep(ctx.ref, record);
    return response;
  } catch (error) {
    const ended = Date.now();
    await deps.steps.recordStep(ctx.ref, {
      ...base,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      durationMs: Math.max(0, ended - started - Math.round(callStatsOf(error)?.waitedMs ?? 0)),
      inputTokens: 0,
      outputTokens: 0,
      cachedInputTokens: 0,
      status: 'FAILED',
      model: deps.llm.model,
      error: error instanceof Error ? error.message.slice(0, 1000) : String(error),
      ...statsFields(callStatsOf(error)),
    });
    throw error;
  }
}
