import { z } from 'zod';
import type { AppConfig } from '#shared/config';
import { ConfigError, NotFoundError, PlanError } from '#shared/domain/errors';
import { extractJsonObject } from '#shared/domain/json-reply';
import { plannerSystemPrompt } from '#shared/domain/prompts';
import type { AgentAssignment, JobRequest, Subtask } from '#shared/domain/types';
import type { ItemLocation, ItemStore } from '#shared/ports/item-store';
import type { JobRef, JobStore, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ChatMessage, LlmClient } from '#shared/ports/llm';
import { boundWidth, type FanOutBoundsDeps, jobDeadline } from './fan-out-bounds';
import { modelStep } from './model-step';
import { decideFanOut, type FanOutDeps } from './policy';

/** Step Functions runs at most 40 inline Map iterations at once; above that the Map runs distributed. */
export const INLINE_MAP_MAX_CONCURRENCY = 40;
/** Above this many items an inline Map risks the 25,000-event history limit (about 8 events an item, retries on top). */
export const INLINE_MAP_MAX_ITEMS = 1000;
/** Stay well below the 256 KiB state payload limit. */
export const MAX_PLAN_PAYLOAD_BYTES = 200 * 1024;
/**
 * The Map collects one small result per sub-agent into the state (`{agentId, status}`, about 50 B):
 * at most this many sub-agents a stage keep that under the 256 KiB payload limit.
 */
export const MAX_AGENTS_PER_STAGE = 5000;
/** A free-text task is decomposed into at most this many subtasks. */
export const MAX_DECOMPOSED_SUBTASKS = 50;

export type PlanInput = JobRef;

/**
 * The Map's input: who runs which subtasks, how many at once, and in which Map mode. The inline
 * Map gets the assignments in the state (`agents`); the Distributed Map reads them from S3 with
 * its ItemReader (`items`), so its size is not bound by the state payload.
 */
export interface PlanOutput extends JobRef {
  stage: number;
  maxConcurrency: number;
  mapMode: 'INLINE' | 'DISTRIBUTED';
  agents?: AgentAssignment[];
  items?: ItemLocation;
}

export interface PlanDeps extends FanOutDeps, FanOutBoundsDeps {
  store: JobStore;
  steps: StepRecorder;
  llm: LlmClient;
  ledger?: BudgetLedger;
  /** Where a Distributed Map's assignments go; required for jobs that fan out distributed. */
  items?: ItemStore;
  config: FanOutDeps['config'] & FanOutBoundsDeps['config'] & Pick<AppConfig, 'defaultMaxSubagents'>;
}

const decompositionSchema = z.object({
  subtasks: z
    .array(z.object({ prompt: z.string().trim().min(1) }).passthrough())
    .min(1)
    .max(MAX_DECOMPOSED_SUBTASKS),
});

/**
 * Assigns subtasks to sub-agents. `parl`: `itemsPerAgent` consecutive subtasks per sub-agent (default
 * one); `sequential`: one agent takes them all.
 */
export function assignSubtasks(
  subtaskIds: readonly string[],
  mode: JobRequest['mode'],
  itemsPerAgent = 1,
): AgentAssignment[] {
  if (mode === 'sequential') return [{ agentId: 'agent-0001', subtaskIds: [...subtaskIds] }];
  // Batch more per sub-agent when one each would exceed what a stage's Map result can hold.
  const k = Math.max(1, Math.floor(itemsPerAgent), Math.ceil(subtaskIds.length / MAX_AGENTS_PER_STAGE));
  const agents: AgentAssignment[] = [];
  for (let i = 0; i < subtaskIds.length; i += k) {
    agents.push({
      agentId: `agent-${String(agents.length + 1).padStart(4, '0')}`,
      subtaskIds: subtaskIds.slice(i, i + k),
    });
  }
  return agents;
}

/** Chooses the Map mode from the width and the number of items. */
export function mapModeFor(maxConcurrency: number, items: number): PlanOutput['mapMode'] {
  return maxConcurrency > INLINE_MAP_MAX_CONCURRENCY || items > INLINE_MAP_MAX_ITEMS
    ? 'DISTRIBUTED'
    : 'INLINE';
}

/**
 * The orchestrator's plan for stage 1.
 *
 * 1. load the job (a cancelled or finished job is not planned again)
 * 2. take the request's subtasks, or decompose the task with one model call that must return
 *    valid JSON (one repair turn, then PlanError)
 * 3. choose the fan-out (width, subtasks per sub-agent) and the output-token budget: the request's
 *    values, or the task class's policy and TOGGLE (see `./policy`); the width at most the key's
 *    free slots and the sub-agents' reserved concurrency, the deadline inside the execution's timeout
 * 4. assign subtasks to sub-agents and choose the Map mode; distributed: store the assignments as
 *    the ItemReader's object; inline: keep them in the state, within the payload budget
 * 5. store the plan, mark the job RUNNING, and return the Map's input
 */
export async function planJob(deps: PlanDeps, input: PlanInput): Promise<PlanOutput> {
  const ref: JobRef = { tenantId: input.tenantId, jobId: input.jobId };
  const job = await deps.store.getJob(ref);
  if (!job) throw new NotFoundError(`job ${input.jobId} not found`);
  if (job.status !== 'ACCEPTED' && job.status !== 'RUNNING') {
    throw new PlanError(`job ${input.jobId} is ${job.status}; it is not planned again`);
  }
  const stage = 1;
  let subtasks = await deps.store.listSubtasks(ref);
  const decomposedBy = subtasks.length > 0 ? 'request' : 'orchestrator';
  if (subtasks.length === 0) {
    subtasks = await decompose(deps, ref, stage, job.request.task);
    await deps.store.putSubtasks(ref, subtasks);
  }
  const fanOut = await decideFanOut(deps, ref.tenantId, job.request, subtasks.length, job.maxWidth);
  const agents = assignSubtasks(
    subtasks.map((s) => s.id),
    job.request.mode,
    fanOut.itemsPerAgent,
  );
  const itemsPerAgent = agents[0]?.subtaskIds.length ?? fanOut.itemsPerAgent;
  // Never wider than the key's free slots or the sub-agents' reserved concurrency.
  const { width, boundBy } = await boundWidth(
    deps,
    Math.min(
      job.request.mode === 'sequential'
        ? (job.request.maxSubagents ?? deps.config.defaultMaxSubagents)
        : fanOut.width,
      agents.length,
    ),
  );
  const deadlineAt = jobDeadline(deps.config, job.acceptedAt);
  const mapMode = mapModeFor(width, agents.length);
  const head = {
    jobId: ref.jobId,
    tenantId: ref.tenantId,
    stage,
    maxConcurrency: Math.max(1, width),
    mapMode,
  };
  let output: PlanOutput;
  if (mapMode === 'DISTRIBUTED') {
    if (!deps.items) throw new ConfigError('ITEMS_BUCKET', 'is required to plan a Distributed Map');
    output = { ...head, items: await deps.items.putItems(ref, stage, agents) };
  } else {
    output = { ...head, agents };
    const bytes = Buffer.byteLength(JSON.stringify(output));
    if (bytes > MAX_PLAN_PAYLOAD_BYTES) {
      throw new PlanError(
        `the plan for ${agents.length} sub-agents is ${bytes} bytes, above the ${MAX_PLAN_PAYLOAD_BYTES}-byte state budget; split the job or use fewer subtasks`,
      );
    }
  }
  await deps.store.updateJob(ref, {
    status: 'RUNNING',
    startedAt: new Date().toISOString(),
    plan: {
      stage,
      agents: agents.length,
      maxConcurrency: output.maxConcurrency,
      mapMode: output.mapMode,
      subtasks: subtasks.length,
      decomposedBy,
      itemsPerAgent,
      ...(fanOut.policy ? { policy: fanOut.policy } : {}),
      budget: fanOut.budget,
      ...(boundBy ? { widthBoundBy: boundBy } : {}),
      ...(deadlineAt ? { deadlineAt } : {}),
    },
  });
  return output;
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
