/**
 * One stage's fan-out, the same for the first stage (`planJob`) and the later ones
 * (`planNextStage`): who runs which subtasks, how many at once, in which Map mode, and where the
 * assignments go (in the state for an inline Map, within the payload budget; in S3 for the
 * Distributed Map's ItemReader).
 */
import { ConfigError, PlanError } from '#shared/domain/errors';
import type { AgentAssignment, JobRequest } from '#shared/domain/types';
import type { ItemLocation, ItemStore } from '#shared/ports/item-store';
import type { JobRef } from '#shared/ports/job-store';

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

/** What a stage runs: its subtasks, how they are batched, and the most sub-agents at once. */
export interface StageRequest {
  stage: number;
  subtaskIds: readonly string[];
  mode: JobRequest['mode'];
  /** Subtasks per sub-agent asked for (raised when the stage would have too many sub-agents). */
  itemsPerAgent: number;
  /** Sub-agents at once asked for; the stage runs 1..(its sub-agents) at once. */
  width: number;
}

/** A planned stage: the Map's input, and what the job's plan records of it. */
export interface PlannedStage {
  output: PlanOutput;
  agents: number;
  /** Subtasks the first sub-agent was given (what the batching came to). */
  itemsPerAgent: number;
}

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
 * Plans one stage.
 *
 * 1. assign the subtasks to sub-agents (a later stage's agent ids carry its number: `s2-agent-0001`)
 * 2. the width: the one asked for, within 1..(the sub-agents); the Map mode from width and count
 * 3. distributed: store the assignments as the ItemReader's object (ConfigError without a store);
 *    inline: keep them in the state, within MAX_PLAN_PAYLOAD_BYTES (PlanError above it)
 */
export async function planStage(
  deps: { items?: ItemStore },
  ref: JobRef,
  request: StageRequest,
): Promise<PlannedStage> {
  const { stage } = request;
  const agents = assignSubtasks(request.subtaskIds, request.mode, request.itemsPerAgent).map((a) =>
    stage > 1 ? { ...a, agentId: `s${stage}-${a.agentId}` } : a,
  );
  const maxConcurrency = Math.max(1, Math.min(request.width, agents.length));
  const mapMode = mapModeFor(maxConcurrency, agents.length);
  const head = { jobId: ref.jobId, tenantId: ref.tenantId, stage, maxConcurrency, mapMode };
  const planned = {
    agents: agents.length,
    itemsPerAgent: agents[0]?.subtaskIds.length ?? request.itemsPerAgent,
  };
  if (mapMode === 'DISTRIBUTED') {
    if (!deps.items) throw new ConfigError('ITEMS_BUCKET', 'is required to plan a Distributed Map');
    return { ...planned, output: { ...head, items: await deps.items.putItems(ref, stage, agents) } };
  }
  const output: PlanOutput = { ...head, agents };
  const bytes = Buffer.byteLength(JSON.stringify(output));
  if (bytes > MAX_PLAN_PAYLOAD_BYTES) {
    throw new PlanError(
      `the plan for ${agents.length} sub-agents is ${bytes} bytes, above the ${MAX_PLAN_PAYLOAD_BYTES}-byte state budget; split the job or use fewer subtasks`,
    );
  }
  return { ...planned, output };
}
