import { costUsd, KIMI_K25_PRICES } from '#shared/domain/measures';
import { maxCallCostUsd } from '#shared/domain/tenant';
import type { PriceTable, Role, StepRecord } from '#shared/domain/types';
import type { JobRef, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger, CallStop } from '#shared/ports/ledger';
import {
  type CallStats,
  type ChatRequest,
  type ChatResponse,
  callStatsOf,
  type LlmClient,
} from '#shared/ports/llm';

/** What a model step needs; with a `ledger`, every call is paid for from the job's reservation. */
export interface ModelStepDeps {
  llm: LlmClient;
  steps: StepRecorder;
  ledger?: BudgetLedger;
  prices?: PriceTable;
  /**
   * Closes a job whose calls were stopped (a cancel, a timeout) once its last call in flight has
   * ended: the composition root binds it to closeEndedExecution.
   */
  onLastStoppedCall?: (ref: JobRef, stop: CallStop) => Promise<unknown>;
}

/** The output-token ceiling assumed for a call that sets none, when authorizing its cost. */
const UNSET_MAX_TOKENS = 4096;

const promptChars = (request: ChatRequest): number =>
  request.messages.reduce((n, m) => n + (m.content?.length ?? 0), 0) +
  JSON.stringify(request.tools ?? []).length;

/** Where a step belongs: job, stage, who, which step of theirs, which invocation. */
export interface StepContext {
  ref: JobRef;
  stage: number;
  role: Role;
  agentId: string;
  step: number;
  /** Which invocation; a promise is awaited before the call is sent (beside its authorization). */
  attempt: number | Promise<number>;
}

/** The step fields of a retrying client's statistics (absent for a plain client). */
const statsFields = (stats: CallStats | undefined) =>
  stats
    ? {
        calls: stats.calls,
        rateLimited: stats.rateLimited,
        waitedMs: Math.round(stats.waitedMs),
        ...(stats.limiterMs === undefined ? {} : { limiterMs: Math.round(stats.limiterMs) }),
      }
    : {};

/** What of a call's time is not the model's: queued for the limiter, its round trips, backoff. */
const notModelMs = (stats: CallStats | undefined) =>
  Math.round(stats?.waitedMs ?? 0) + Math.round(stats?.limiterMs ?? 0);

/**
 * Makes one model call and records it as one step, also when it fails (then with no tokens and the
 * error), so every call the provider saw leaves a record. Retries happen inside the client: the
 * step is recorded once, with how many provider calls it took (`calls`, `rateLimited`).
 *
 * With a ledger, the most the call can cost is authorized from the job's reservation before the
 * provider sees the call (a BudgetExceededError stops it unsent and unrecorded), while a client
 * that can wait for that (`waitsForReady`: the limiter's) takes its slot; what the call did not
 * cost is returned afterwards.
 *
 * With `later`, a successful call's step record and the ledger's completion are handed to the
 * caller on their way instead of awaited here: the caller goes on with the answer, waits for the
 * completion before its next call (`later.completion`: that call is authorized from a reservation
 * that has the unused part back) and for both with its own next write (a sub-agent: with its
 * agent's record, so its last answer is one round trip from done, not two).
 */
export async function modelStep(
  deps: ModelStepDeps,
  ctx: StepContext,
  request: ChatRequest,
  later?: LaterWrites,
): Promise<ChatResponse> {
  const prices = deps.prices ?? KIMI_K25_PRICES;
  const auth = authorize(deps, ctx, request, prices);
  // A client that waits for the authorization takes its limiter's slot meanwhile (one round trip
  // before the call, not two); any other is called once the call is authorized.
  if (!deps.llm.waitsForReady) await auth.ready;
  // The ledger hears of the call once: after a success beside the step's record, else in `finally`.
  let completion: Promise<CallStop | undefined> | undefined;
  const complete = (actualUsd: number) => {
    completion ??=
      auth.amount > 0 && deps.ledger
        ? deps.ledger.completeCall(ctx.ref, auth.amount, actualUsd, ctx.agentId)
        : Promise.resolve(undefined);
    return completion;
  };
  // What follows the ledger's answer: a call stopped meanwhile (a cancel) may be the job's last.
  const completed = async (actualUsd: number) => {
    const stop = await complete(actualUsd);
    if (stop) await deps.onLastStoppedCall?.(ctx.ref, stop);
  };
  let handedOver = false;
  try {
    const { response, recorded } = await recordedCall(deps, ctx, request, auth);
    const actualUsd = costUsd(
      {
        input: response.usage.inputTokens,
        cachedInput: response.usage.cachedInputTokens,
        output: response.usage.outputTokens,
      },
      prices,
    );
    // The step's record and the ledger's completion do not wait for each other: one round trip
    // after the answer, not two, on every call's way back (and so on the critical path); none at
    // all when the caller takes them on.
    if (later) {
      later.record(recorded);
      later.completion(completed(actualUsd));
      handedOver = true;
    } else {
      await Promise.all([recorded, complete(actualUsd)]);
    }
    return response;
  } finally {
    if (!handedOver) {
      // An authorization still on its way when the call failed is given back once it is known.
      await auth.granted.catch(() => undefined);
      await completed(0);
    }
  }
}

/** Where {@link modelStep} hands a successful call's writes still on their way. */
export interface LaterWrites {
  /** The step's record. */
  record: (recorded: Promise<void>) => void;
  /** The ledger's completion (and the close of a job stopped meanwhile, if this was its last call). */
  completion: (completed: Promise<void>) => void;
}

/**
 * What a call waits for before it is sent, on its way: the ledger's authorization (`granted`, the
 * amount once known) and the step's attempt count; `refusal` is the error of whichever failed.
 */
interface Authorization {
  ready: Promise<void>;
  granted: Promise<void>;
  amount: number;
  refusal?: unknown;
}

/** Asks the ledger (if any) to authorize the most the call can cost; does not wait for the answer. */
function authorize(deps: ModelStepDeps, ctx: StepContext, request: ChatRequest, prices: PriceTable) {
  const auth: Authorization = { ready: Promise.resolve(), granted: Promise.resolve(), amount: 0 };
  if (deps.ledger) {
    const maxUsd = maxCallCostUsd(promptChars(request), request.maxTokens ?? UNSET_MAX_TOKENS, prices);
    auth.granted = deps.ledger.authorizeCall(ctx.ref, maxUsd, ctx.agentId).then((amount) => {
      auth.amount = amount;
    });
    auth.granted.catch(() => undefined); // awaited through `ready`, and in modelStep's `finally`
  }
  auth.ready = Promise.all([auth.granted, ctx.attempt]).then(
    () => undefined,
    (error: unknown) => {
      auth.refusal = error;
      throw error;
    },
  );
  auth.ready.catch(() => undefined); // thrown where it is awaited: before the call, or by the client
  return auth;
}

/**
 * Makes the call; after a success, hands back the answer with its step record on its way
 * (`recorded`: the caller waits for it), after a failure records the failed step and throws. A call
 * the ledger refused (the client waited for `auth`) reached no provider: it is not recorded.
 */
async function recordedCall(
  deps: ModelStepDeps,
  ctx: StepContext,
  request: ChatRequest,
  auth: Authorization,
): Promise<{ response: ChatResponse; recorded: Promise<void> }> {
  const started = Date.now();
  const base = { stage: ctx.stage, role: ctx.role, agentId: ctx.agentId, step: ctx.step };
  let response: ChatResponse;
  try {
    response = await deps.llm.chat({
      ...request,
      caller: { role: ctx.role === 'main' ? 'orchestrator' : 'subagent', tenantId: ctx.ref.tenantId },
      ...(deps.llm.waitsForReady ? { ready: auth.ready } : {}),
    });
  } catch (error) {
    if (auth.refusal !== undefined && error === auth.refusal) throw error;
    const ended = Date.now();
    // A call that failed before its attempt was known (the count failed too) was never sent.
    const attempt = await Promise.resolve(ctx.attempt).catch(() => undefined);
    if (attempt === undefined) throw error;
    await deps.steps.recordStep(ctx.ref, {
      ...base,
      attempt,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      durationMs: Math.max(0, ended - started - notModelMs(callStatsOf(error))),
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
  const ended = Date.now();
  const record: StepRecord = {
    ...base,
    // Known: the call was sent once it was (`ready`), or it was a number from the start.
    attempt: await ctx.attempt,
    startedAt: new Date(started).toISOString(),
    endedAt: new Date(ended).toISOString(),
    // The model's time: the shared limiter (waiting, `waitedMs`, and its round trips, `limiterMs`)
    // and the pauses between retries are not work.
    durationMs: Math.max(0, ended - started - notModelMs(response.callStats)),
    inputTokens: response.usage.inputTokens,
    outputTokens: response.usage.outputTokens,
    cachedInputTokens: response.usage.cachedInputTokens,
    status: 'SUCCEEDED',
    model: response.model,
    finishReason: response.finishReason,
    ...(response.toolCalls.length > 0 ? { toolCalls: response.toolCalls.map((c) => c.function.name) } : {}),
    ...statsFields(response.callStats),
  };
  return { response, recorded: deps.steps.recordStep(ctx.ref, record) };
}
