import type { AppConfig } from '#shared/config';
import {
  DEADLINE_REASON,
  type Deadline,
  SUBAGENT_STOP_MARGIN_MS,
  startDeadline,
  stopTime,
} from '#shared/domain/deadline';
import { DeadlineReachedError, NotFoundError } from '#shared/domain/errors';
import { firstLine } from '#shared/domain/failure-reason';
import type { Subtask } from '#shared/domain/types';
import { workloadOf } from '#shared/domain/workloads/registry';
import type { DatasetItems, Workload } from '#shared/domain/workloads/workload';
import type { JobRef, JobStore, StepRecorder, SubtaskResult } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ChatMessage, LlmClient } from '#shared/ports/llm';
import type { LeaseReserver, ReservedLease } from '#shared/ports/rate-limiter';
import { type LaterWrites, modelStep } from './model-step';
import { type SubagentSettings, subagentSettings, subtasksOf } from './plan-stage';
import { executeTool, toolsFor } from './tools';

export interface SubagentInput extends JobRef {
  stage: number;
  agentId: string;
  subtaskIds: string[];
  /** The subtasks themselves, when the Map's item carries them (then they are not read). */
  subtasks?: Subtask[];
  /** What it needs of the job, from the plan (the Distributed Map's): with `subtasks`, nothing is read. */
  settings?: SubagentSettings;
  /** The limiter's lease the plan took for its first call, when it took one (the Distributed Map's). */
  reservation?: ReservedLease | null;
}

/** What the Map collects per sub-agent: small on purpose (answers live in DynamoDB). */
export interface SubagentOutput {
  agentId: string;
  status: 'SUCCEEDED' | 'FAILED';
  answered: number;
  failed: number;
}

export interface SubagentDeps {
  store: JobStore;
  steps: StepRecorder;
  llm: LlmClient;
  ledger?: BudgetLedger;
  /** Gives back the plan's lease when no call of this invocation may use it. */
  leases?: Pick<LeaseReserver, 'unreserve'>;
  config: Pick<AppConfig, 'subagentStepBudget' | 'maxOutputTokens'>;
}

/** When the sub-agent must stop. */
export interface SubagentRunOptions {
  /** When the function running it times out (ms since the epoch; the Lambda context's remaining time). */
  lambdaDeadlineAt?: number;
  /** Time kept back before that timeout (default {@link SUBAGENT_STOP_MARGIN_MS}). */
  stopMarginMs?: number;
}

/**
 * Runs one sub-agent over its subtasks, one after another, each a small agent loop of model calls
 * and tool calls within a step budget, stopping at its deadline.
 *
 * 1. count this invocation (a retried Lambda is attempt 2 and overwrites its own steps), not
 *    waited for before the first call is about to be sent
 * 2. load the job's workload and the assigned subtasks (not those the Map's item carries); the
 *    deadline: the Lambda's timeout less a margin, or the job's deadline (the plan's), whichever
 *    comes first
 * 3. per subtask: model call → tools → … until an answer or the budget is spent; store the result
 * 4. store the agent's record (dropping steps an earlier, longer attempt left) beside the step records
 *    and the ledger's completions still on their way (one round trip after the last answer, not
 *    two) and return a summary;
 *    at the deadline the call in flight is aborted (its limiter lease given back), the subtasks left
 *    are stored FAILED and the agent FAILED with the reason, and the Map gets a summary, not a timeout
 */
export async function runSubagent(
  deps: SubagentDeps,
  input: SubagentInput,
  options: SubagentRunOptions = {},
): Promise<SubagentOutput> {
  const ref: JobRef = { tenantId: input.tenantId, jobId: input.jobId };
  // The count goes on beside the first call's authorization (its `ready`): only the records need it.
  const attempt = deps.steps.nextAttempt(ref, input.stage, 'sub', input.agentId);
  attempt.catch(() => undefined); // awaited before the first call is sent, and by the agent's record
  const lease = firstLease(deps, input, attempt);
  const { settings, subtasks } = await loadAssigned(deps.store, ref, input).catch(lease.backFrom);
  const workload = workloadOf(settings.workload);
  // The plan's budget is the one TOGGLE chose; jobs planned before it existed carry none.
  const maxTokens = settings.maxOutputTokens ?? deps.config.maxOutputTokens;
  const stopAt = stopTime({
    lambdaDeadlineAt: options.lambdaDeadlineAt,
    jobDeadlineAt: settings.deadlineAt ? Date.parse(settings.deadlineAt) : undefined,
    marginMs: options.stopMarginMs ?? SUBAGENT_STOP_MARGIN_MS,
  });
  const deadline = stopAt === undefined ? undefined : startDeadline(stopAt);

  let stepNo = 0;
  let answered = 0;
  // Step records and ledger completions still on their way: they go with the agent's record
  // (finish), not one by one; the next call waits for the last completion only (`paid`).
  const recording: Promise<void>[] = [];
  let paid: Promise<void> = Promise.resolve();
  const later: LaterWrites = {
    record: (recorded) => {
      recorded.catch(() => undefined); // awaited in finish; a failure there fails the agent
      recording.push(recorded);
    },
    completion: (completed) => {
      completed.catch(() => undefined); // awaited by the next call or in finish
      recording.push(completed);
      paid = completed;
    },
  };
  const nextStep = () => {
    stepNo += 1;
    return { ref, stage: input.stage, role: 'sub' as const, agentId: input.agentId, step: stepNo, attempt };
  };
  // The last subtask's result is stored with the agent's record (one request, not two).
  let last: SubtaskResult | undefined;
  const finish = async (status: 'SUCCEEDED' | 'FAILED', error?: string) => {
    const record = {
      stage: input.stage,
      agentId: input.agentId,
      status,
      attempt: await attempt,
      stepCount: stepNo,
      subtaskIds: input.subtaskIds,
      ...(error ? { error } : {}),
    };
    const [steps, agent] = await Promise.allSettled([
      Promise.all(recording.splice(0)),
      deps.steps.finishAgent(ref, record, 'sub', last ? [last] : []),
    ]);
    // A step record that could not be stored fails the agent: the caller records it FAILED again.
    if (steps.status === 'rejected') throw steps.reason;
    if (agent.status === 'rejected') throw agent.reason;
  };

  const done = new Set<string>();
  try {
    const missing = input.subtaskIds.filter((id) => !subtasks.some((s) => s.id === id));
    const call = { maxTokens, deadline, later, paid: () => paid, reserved: lease.take };
    for (const [i, subtask] of subtasks.entries()) {
      const solved = await solveSubtask(deps, ref, workload, subtask, call, nextStep);
      const result = { ...solved, agentId: input.agentId, stage: input.stage };
      if (i < subtasks.length - 1) await deps.store.putResult(ref, result);
      else last = result;
      done.add(subtask.id);
      if (result.status === 'ANSWERED') answered += 1;
    }
    const failed = subtasks.length - answered + missing.length;
    const error =
      failed > 0 ? `${failed} of ${input.subtaskIds.length} subtasks got no usable answer` : undefined;
    await finish(failed === 0 ? 'SUCCEEDED' : 'FAILED', error);
    return { agentId: input.agentId, status: failed === 0 ? 'SUCCEEDED' : 'FAILED', answered, failed };
  } catch (error) {
    if (error instanceof DeadlineReachedError) {
      // Stop cleanly: what was answered stays, the rest is recorded as not done, the Map goes on.
      const left = subtasks.filter((s) => !done.has(s.id));
      const reason = `${DEADLINE_REASON} ${new Date(error.deadlineAt).toISOString()}`;
      await recordUnfinished(deps, ref, input, left, reason);
      const failed = input.subtaskIds.length - answered;
      await finish('FAILED', `${reason}: ${answered} of ${input.subtaskIds.length} subtasks answered`);
      return { agentId: input.agentId, status: 'FAILED', answered, failed };
    }
    // Recorded before the Map catches it (a short reason: no stack trace in the record).
    await finish('FAILED', firstLine(error instanceof Error ? error.message : String(error)));
    throw error;
  } finally {
    deadline?.clear();
    await lease.unused();
  }
}

/**
 * The plan's lease for the sub-agent's first call: `take` hands it to that call (once), resolved
 * when the attempt is known: this invocation's only if it is the first (a retried Lambda's first
 * may have used it), else given back. `unused` gives it back if no call took it.
 */
function firstLease(deps: SubagentDeps, input: SubagentInput, attempt: Promise<number>) {
  let ahead = input.reservation ?? undefined;
  const giveBack = async (lease: ReservedLease) => {
    await deps.leases?.unreserve(lease).catch(() => undefined);
    return undefined;
  };
  const unused = async () => {
    const lease = ahead;
    ahead = undefined;
    if (lease) await giveBack(lease);
  };
  return {
    take: (): Promise<ReservedLease | undefined> | undefined => {
      const lease = ahead;
      ahead = undefined;
      if (!lease) return undefined;
      return attempt.then(
        (n) => (n === 1 ? lease : giveBack(lease)),
        () => giveBack(lease),
      );
    },
    unused,
    /** Rethrows `error` once an unused lease went back. */
    backFrom: async (error: unknown): Promise<never> => {
      await unused();
      throw error;
    },
  };
}

/** Stores the subtasks an agent stopped before as FAILED with the reason (unanswered, not wrong). */
async function recordUnfinished(
  deps: SubagentDeps,
  ref: JobRef,
  input: SubagentInput,
  left: readonly Subtask[],
  reason: string,
): Promise<void> {
  await Promise.all(
    left.map((s) =>
      deps.store.putResult(ref, {
        subtaskId: s.id,
        agentId: input.agentId,
        stage: input.stage,
        status: 'FAILED',
        error: reason,
        ...(s.expected === undefined ? {} : { expected: s.expected, correct: false }),
      }),
    ),
  );
}

async function solveSubtask(
  deps: SubagentDeps,
  ref: JobRef,
  workload: Workload,
  subtask: Subtask,
  call: {
    maxTokens: number;
    deadline: Deadline | undefined;
    later: LaterWrites;
    /** The ledger's completion of the call before (its unused part back before the next is authorized). */
    paid: () => Promise<void>;
    /** The plan's lease, for the first call that asks (then none). */
    reserved: () => Promise<ReservedLease | undefined> | undefined;
  },
  nextStep: () => Parameters<typeof modelStep>[1],
): Promise<Omit<SubtaskResult, 'agentId' | 'stage'>> {
  const { maxTokens, deadline, later } = call;
  const tools = toolsFor(workload);
  const items: DatasetItems = (collection, id) => deps.store.getDatasetItem(ref, collection, id);
  const messages: ChatMessage[] = [
    { role: 'system', content: workload.systemPrompt },
    { role: 'user', content: subtask.prompt },
  ];
  const base = {
    subtaskId: subtask.id,
    ...(subtask.expected === undefined ? {} : { expected: subtask.expected }),
  };
  let lastProblem = 'no answer';
  for (let turn = 0; turn < deps.config.subagentStepBudget; turn++) {
    // No new call once the deadline has passed (it would only be aborted).
    deadline?.throwIfReached();
    await call.paid();
    const reserved = call.reserved();
    const response = await modelStep(
      deps,
      nextStep(),
      {
        ...(reserved ? { reserved } : {}),
        messages,
        ...(tools ? { tools } : {}),
        maxTokens,
        ...(deadline ? { deadline: deadline.request } : {}),
      },
      later,
    );
    if (response.toolCalls.length > 0) {
      messages.push({ role: 'assistant', content: response.content, tool_calls: response.toolCalls });
      // The calls of one turn are independent: run them together, answer in their order.
      const outputs = await Promise.all(response.toolCalls.map((call) => executeTool(workload, items, call)));
      response.toolCalls.forEach((call, i) => {
        messages.push({ role: 'tool', tool_call_id: call.id, content: outputs[i] ?? '' });
      });
      continue;
    }
    const content = response.content ?? '';
    try {
      const parsed = workload.parseAnswer(content);
      workload.checkAnswer(parsed, subtask);
      return {
        ...base,
        status: 'ANSWERED',
        answer: parsed.answer.slice(0, 4000),
        ...(parsed.verdict ? { verdict: parsed.verdict } : {}),
        ...(parsed.reasons ? { reasons: parsed.reasons.slice(0, 20) } : {}),
        ...(response.finishReason === 'length' ? { cut: true } : {}),
        ...(subtask.expected === undefined ? {} : { correct: workload.isCorrect(parsed, subtask.expected) }),
      };
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      lastProblem =
        response.finishReason === 'length'
          ? `the answer was cut at the limit of ${maxTokens} output tokens (finish_reason length): ${why}`
          : `unusable answer (${response.finishReason}): ${why}`;
      messages.push({ role: 'assistant', content });
      messages.push({
        role: 'user',
        content: `Your reply could not be used: ${lastProblem}. Reply again in the required format.`,
      });
    }
  }
  return {
    ...base,
    status: 'FAILED',
    error: `step budget of ${deps.config.subagentStepBudget} spent; last problem: ${lastProblem}`,
    ...(subtask.expected === undefined ? {} : { correct: false }),
  };
}

/**
 * What the sub-agent needs of its job, and its subtasks: both from the input when it carries them
 * (nothing read before the first call), else read (the job and the subtasks the input lacks, in one
 * request).
 */
async function loadAssigned(
  store: JobStore,
  ref: JobRef,
  input: SubagentInput,
): Promise<{ settings: SubagentSettings; subtasks: Subtask[] }> {
  const carried = carriedSubtasks(input);
  if (carried && input.settings) return { settings: input.settings, subtasks: carried };
  const { job, subtasks } = await store.getJobAndSubtasks(ref, carried ? [] : input.subtaskIds);
  if (!job) throw new NotFoundError(`job ${input.jobId} not found`);
  return { settings: subagentSettings(job.request, job.plan), subtasks: carried ?? subtasks };
}

/** The input's own subtasks in the order assigned, when it carries every one of them; else undefined. */
function carriedSubtasks(input: SubagentInput): Subtask[] | undefined {
  if (!input.subtasks || input.subtasks.length === 0) return undefined;
  return subtasksOf(input.subtaskIds, new Map(input.subtasks.map((s) => [s.id, s])));
}
