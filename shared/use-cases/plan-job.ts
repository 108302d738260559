import { z } from 'zod';
import type { AppConfig } from '#shared/config';
import { NotFoundError, PlanError } from '#shared/domain/errors';
import { extractJsonObject } from '#shared/domain/json-reply';
import { plannerSystemPrompt } from '#shared/domain/prompts';
import type { Subtask } from '#shared/domain/types';
import type { ItemStore } from '#shared/ports/item-store';
import type { JobRef, JobStore, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ChatMessage, LlmClient } from '#shared/ports/llm';
import { type FanOutBoundsDeps, jobDeadline } from './fan-out-bounds';
import { modelStep } from './model-step';
import { type FirstLeases, type PlanOutput, planStage, subagentSettings } from './plan-stage';
import { decideFanOut, type FanOutDeps } from './policy';

/** A free-text task is decomposed into at most this many subtasks. */
export const MAX_DECOMPOSED_SUBTASKS = 50;

export type PlanInput = JobRef;

export interface PlanDeps extends FanOutDeps, FanOutBoundsDeps {
  store: JobStore;
  steps: StepRecorder;
  llm: LlmClient;
  ledger?: BudgetLedger;
  /** Where a Distributed Map's assignments go; required for jobs that fan out distributed. */
  items?: ItemStore;
  /** The leases it may take ahead for the Map's first calls (the shared limiter's). */
  firstLeases?: FirstLeases;
  config: FanOutDeps['config'] & FanOutBoundsDeps['config'] & Pick<AppConfig, 'defaultMaxSubagents'>;
}

const decompositionSchema = z.object({
  subtasks: z
    .array(z.object({ prompt: z.string().trim().min(1) }).passthrough())
    .min(1)
    .max(MAX_DECOMPOSED_SUBTASKS),
});

/**
 * The orchestrator's plan for stage 1.
 *
 * 1. load the job (a cancelled or finished job is not planned again)
 * 2. take the request's subtasks, or decompose the task with one model call that must return
 *    valid JSON (one repair turn, then PlanError)
 * 3. choose the fan-out (width, subtasks per sub-agent) and the output-token budget: the request's
 *    values, or the task class's policy and TOGGLE (see `./policy`)
 * 4. plan the stage (`planStage`): assignments, width (at most the key's free slots and the
 *    sub-agents' reserved concurrency), Map mode, where the assignments go; the job's deadline
 *    inside the execution's timeout
 * 5. store the plan, mark the job RUNNING, and return the Map's input
 */
export async function planJob(deps: PlanDeps, input: PlanInput): Promise<PlanOutput> {
  const ref: JobRef = { tenantId: input.tenantId, jobId: input.jobId };
  // The job, its subtasks and the key's free slots load together: one round trip before the Map, not three.
  const freeSlots = deps.slots?.freeSlots();
  freeSlots?.catch(() => undefined); // awaited later, or not at all when the plan stops first
  const [job, listed] = await Promise.all([deps.store.getJob(ref), deps.store.listSubtasks(ref)]);
  if (!job) throw new NotFoundError(`job ${input.jobId} not found`);
  if (job.status !== 'ACCEPTED' && job.status !== 'RUNNING') {
    throw new PlanError(`job ${input.jobId} is ${job.status}; it is not planned again`);
  }
  const stage = 1;
  let subtasks = listed;
  const decomposedBy = subtasks.length > 0 ? 'request' : 'orchestrator';
  if (subtasks.length === 0) {
    subtasks = await decompose(deps, ref, stage, job.request.task);
    await deps.store.putSubtasks(ref, subtasks);
  }
  const fanOut = await decideFanOut(deps, ref.tenantId, job.request, subtasks.length, job.maxWidth);
  // After a decomposition (a model call) the slots read at the start are stale: read them again.
  const slots = freeSlots && decomposedBy === 'request' ? { freeSlots: () => freeSlots } : deps.slots;
  const deadlineAt = jobDeadline(deps.config, job.acceptedAt);
  // The plan's record goes beside the items' put (`planStage`): the job is RUNNING with its plan
  // once the Map's input is ready.
  const planned = await planStage(
    { ...deps, ...(slots ? { slots } : {}) },
    ref,
    {
      stage,
      subtaskIds: subtasks.map((s) => s.id),
      subtasks,
      mode: job.request.mode,
      itemsPerAgent: fanOut.itemsPerAgent,
      width:
        job.request.mode === 'sequential'
          ? (job.request.maxSubagents ?? deps.config.defaultMaxSubagents)
          : fanOut.width,
      settings: subagentSettings(job.request, {
        budget: fanOut.budget,
        ...(deadlineAt ? { deadlineAt } : {}),
      }),
    },
    (shape) =>
      deps.store.updateJob(ref, {
        status: 'RUNNING',
        startedAt: new Date().toISOString(),
        plan: {
          stage,
          agents: shape.agents,
          maxConcurrency: shape.maxConcurrency,
          mapMode: shape.mapMode,
          subtasks: subtasks.length,
          decomposedBy,
          itemsPerAgent: shape.itemsPerAgent,
          ...(fanOut.policy ? { policy: fanOut.policy } : {}),
          budget: fanOut.budget,
          ...(shape.widthBoundBy ? { widthBoundBy: shape.widthBoundBy } : {}),
          ...(deadlineAt ? { deadlineAt } : {}),
        },
      }),
  );
  return planned.output;
}

async function decompose(deps: PlanDeps, ref: JobRef, stage: number, task: string): Promise<Subtask[]> {
  const attempt = await deps.steps.nextAttempt(ref, stage, 'main', 'planner');
  const messages: ChatMessage[] = [
    { role: 'system', content: plannerSystemPrompt(MAX_DECOMPOSED_SUBTASKS) },
    { role: 'user', content: task },
  ];
  let problem = '';
  let step = 0;
  for (; step < 2; ) {
    step += 1;
    const response = await modelStep(
      deps,
      { ref, stage, role: 'main', agentId: 'planner', step, attempt },
      { messages, json: true, maxTokens: 4000 },
    );
    const content = response.content ?? '';
    try {
      const parsed = decompositionSchema.parse(extractJsonObject(content));
      await deps.steps.finishAgent(
        ref,
        { stage, agentId: 'planner', status: 'SUCCEEDED', attempt, stepCount: step, subtaskIds: [] },
        'main',
      );
      return parsed.subtasks.map((s, i) => ({ id: `S-${String(i + 1).padStart(4, '0')}`, prompt: s.prompt }));
    } catch (error) {
      problem = error instanceof Error ? error.message.slice(0, 500) : String(error);
      messages.push({ role: 'assistant', content });
      messages.push({
        role: 'user',
        content: `That was not valid: ${problem}. Reply with JSON only: {"subtasks": [{"prompt": "..."}]}.`,
      });
    }
  }
  await deps.steps.finishAgent(
    ref,
    { stage, agentId: 'planner', status: 'FAILED', attempt, stepCount: step, subtaskIds: [] },
    'main',
  );
  throw new PlanError(
    `the orchestrator returned no valid decomposition after ${step} model calls: ${problem}`,
  );
}
