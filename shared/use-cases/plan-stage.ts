/**
 * One stage's fan-out, the same for the first stage (`planJob`) and the later ones
 * (`planNextStage`): who runs which subtasks, how many at once, in which Map mode, and where the
 * assignments go (in the state for an inline Map, within the payload budget; in S3 for the
 * Distributed Map's ItemReader).
 */
import { ConfigError, PlanError } from '#shared/domain/errors';
import { type MapMode, mapModeFor } from '#shared/domain/fan-out-limits';
import { estimateTokens } from '#shared/domain/provider-limits';
import type { AgentAssignment, JobRequest, Subtask } from '#shared/domain/types';
import { type WorkloadName, workloadOf } from '#shared/domain/workloads/registry';
import type { ItemLocation, ItemStore } from '#shared/ports/item-store';
import type { JobRecord, JobRef, PlanSummary, WidthBound } from '#shared/ports/job-store';
import type { LeaseReserver, ReservedLease } from '#shared/ports/rate-limiter';
import { boundWidth, type FanOutBoundsDeps } from './fan-out-bounds';

/** Stay well below the 256 KiB state payload limit (an inline Map's assignments are in the state). */
export const MAX_PLAN_PAYLOAD_BYTES = 200 * 1024;

/**
 * The Map's input: who runs which subtasks, how many at once, and in which Map mode. The inline
 * Map gets the assignments in the state (`agents`); the Distributed Map reads them from S3 with
 * its ItemReader (`items`), so its size is not bound by the state payload.
 */
export interface PlanOutput extends JobRef {
  stage: number;
  maxConcurrency: number;
  mapMode: MapMode;
  agents?: AgentAssignment[];
  items?: ItemLocation;
  /** The Distributed Map's: what its sub-agents need of the job (its ItemSelector hands them on). */
  settings?: SubagentSettings;
}

/**
 * What a sub-agent needs of its job besides its subtasks. The Distributed Map's items get them from
 * the plan, so a sub-agent whose item carries its subtasks reads nothing before its first call.
 */
export interface SubagentSettings {
  workload: WorkloadName;
  /** The plan's output-token budget (TOGGLE's), else the request's; none: the function's default. */
  maxOutputTokens?: number;
  /** When the sub-agents stop at the latest (the plan's, ISO time). */
  deadlineAt?: string;
}

/** A job's {@link SubagentSettings}: from its request and its plan (the one being stored, for a new plan). */
export function subagentSettings(
  request: Pick<JobRecord['request'], 'workload' | 'maxOutputTokens'>,
  plan: Pick<PlanSummary, 'budget' | 'deadlineAt'> | undefined,
): SubagentSettings {
  const maxOutputTokens = plan?.budget?.budget ?? request.maxOutputTokens;
  return {
    workload: request.workload,
    ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
    ...(plan?.deadlineAt ? { deadlineAt: plan.deadlineAt } : {}),
  };
}

/**
 * Above this a sub-agent's subtasks stay out of its Distributed Map item (it reads them itself): a
 * child execution's input stays far below the 256 KiB payload limit.
 */
export const MAX_CARRIED_SUBTASK_BYTES = 16 * 1024;

/**
 * A Distributed Map item: the assignment and its subtasks, so that the sub-agent does not read them
 * before its first call (none when the planner did not have them or they are above
 * {@link MAX_CARRIED_SUBTASK_BYTES}; the key is always there, as the Map's ItemSelector reads it).
 */
export interface CarriedAssignment extends AgentAssignment {
  subtasks: Subtask[];
  /** The limiter's lease for its first call, taken by the plan; null when it took none for it. */
  reservation: ReservedLease | null;
}

/** The shared limiter's leases a plan may take ahead for its Map's first calls (`most` at most). */
export interface FirstLeases {
  reserver: LeaseReserver;
  most: number;
}

/** How long a plan waits for the leases it takes ahead; those the key cannot grant by then, it leaves. */
export const FIRST_LEASES_WITHIN_MS = 500;

/** What a stage runs: its subtasks, how they are batched, and the most sub-agents at once. */
export interface StageRequest {
  stage: number;
  subtaskIds: readonly string[];
  /** The subtasks themselves, when the planner has them: they go with the Distributed Map's items. */
  subtasks?: readonly Subtask[];
  mode: JobRequest['mode'];
  /** Subtasks per sub-agent asked for (raised when the stage would have too many sub-agents). */
  itemsPerAgent: number;
  /** Sub-agents at once asked for; the stage runs 1..(its sub-agents) at once. */
  width: number;
  /** What its sub-agents need of the job: with the Distributed Map's input. */
  settings: SubagentSettings;
}

/** A planned stage: the Map's input, and what the job's plan records of it. */
export interface PlannedStage {
  output: PlanOutput;
  agents: number;
  /** Subtasks the first sub-agent was given (what the batching came to). */
  itemsPerAgent: number;
  /** What lowered the width below the one asked for, if anything did. */
  widthBoundBy?: WidthBound;
}

/** A stage's shape, known before its items are stored: what the job's plan records of it. */
export type StageShape = Omit<PlannedStage, 'output'> & Pick<PlanOutput, 'maxConcurrency' | 'mapMode'>;

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
  // One sub-agent a subtask is fine at any count: the Maps return nothing, so no result bounds them.
  const k = Math.max(1, Math.floor(itemsPerAgent));
  const agents: AgentAssignment[] = [];
  for (let i = 0; i < subtaskIds.length; i += k) {
    agents.push({
      agentId: `agent-${String(agents.length + 1).padStart(4, '0')}`,
      subtaskIds: subtaskIds.slice(i, i + k),
    });
  }
  return agents;
}

/**
 * Plans one stage.
 *
 * 1. assign the subtasks to sub-agents (a later stage's agent ids carry its number: `s2-agent-0001`)
 * 2. the width: the one asked for, within 1..(the sub-agents), at most the provider key's free slots
 *    and the sub-agents' reserved concurrency (`boundWidth`); the Map mode from width and count
 * 3. inline (few items, narrow; see `#shared/domain/fan-out-limits`) while the assignments fit
 *    MAX_PLAN_PAYLOAD_BYTES in the state; otherwise distributed: store the assignments as the
 *    ItemReader's object (ConfigError without a store, PlanError when inline would not fit either)
 *
 * `beside` (the job's plan record) is written once the shape is known, beside the items' put: one
 * round trip before the Map, not two. The stage is planned when both have ended; if either failed,
 * planning fails with the items' error first.
 */
export async function planStage(
  deps: { items?: ItemStore; firstLeases?: FirstLeases } & Partial<FanOutBoundsDeps>,
  ref: JobRef,
  request: StageRequest,
  beside: (shape: StageShape) => Promise<void> = async () => {},
): Promise<PlannedStage> {
  const { stage } = request;
  const agents = assignSubtasks(request.subtaskIds, request.mode, request.itemsPerAgent).map((a) =>
    stage > 1 ? { ...a, agentId: `s${stage}-${a.agentId}` } : a,
  );
  const bound = await boundWidth(
    { ...(deps.slots ? { slots: deps.slots } : {}), config: deps.config ?? {} },
    Math.max(1, Math.min(request.width, agents.length)),
  );
  const maxConcurrency = bound.width;
  const head = { jobId: ref.jobId, tenantId: ref.tenantId, stage, maxConcurrency };
  const planned = {
    agents: agents.length,
    itemsPerAgent: agents[0]?.subtaskIds.length ?? request.itemsPerAgent,
    ...(bound.boundBy ? { widthBoundBy: bound.boundBy } : {}),
  };
  const inline: PlanOutput = { ...head, mapMode: 'INLINE', agents };
  const inlineFits = Buffer.byteLength(JSON.stringify(inline)) <= MAX_PLAN_PAYLOAD_BYTES;
  if (mapModeFor(maxConcurrency, agents.length) === 'INLINE' && inlineFits) {
    await beside({ ...planned, maxConcurrency, mapMode: 'INLINE' });
    return { ...planned, output: inline };
  }
  if (!deps.items) {
    if (!inlineFits) {
      throw new PlanError(
        `the plan for ${agents.length} sub-agents is above the ${MAX_PLAN_PAYLOAD_BYTES}-byte state budget and no item store is configured for a Distributed Map`,
      );
    }
    throw new ConfigError('ITEMS_BUCKET', 'is required to plan a Distributed Map');
  }
  const recording = beside({ ...planned, maxConcurrency, mapMode: 'DISTRIBUTED' });
  recording.catch(() => undefined); // awaited below
  const items = carrying(agents, request.subtasks ?? []);
  const leases = await takeFirstLeases(
    deps.firstLeases,
    ref,
    items.slice(0, maxConcurrency),
    request.settings,
  );
  leases.forEach((lease, i) => {
    (items[i] as CarriedAssignment).reservation = lease;
  });
  const [stored, recorded] = await Promise.allSettled([deps.items.putItems(ref, stage, items), recording]);
  if (stored.status === 'rejected' || recorded.status === 'rejected') {
    // No sub-agent will get them: the leases go back now, not when they expire.
    await Promise.all(leases.map((l) => deps.firstLeases?.reserver.unreserve(l).catch(() => undefined)));
  }
  if (stored.status === 'rejected') throw stored.reason;
  if (recorded.status === 'rejected') throw recorded.reason;
  return {
    ...planned,
    output: { ...head, mapMode: 'DISTRIBUTED', items: stored.value, settings: request.settings },
  };
}

/** The Distributed Map's items: each assignment with its subtasks when all are known and small enough. */
export function carrying(
  agents: readonly AgentAssignment[],
  subtasks: readonly Subtask[],
): CarriedAssignment[] {
  const byId = new Map(subtasks.map((s) => [s.id, s]));
  return agents.map((agent) => {
    const own = subtasksOf(agent.subtaskIds, byId);
    const fits = own !== undefined && Buffer.byteLength(JSON.stringify(own)) <= MAX_CARRIED_SUBTASK_BYTES;
    return { ...agent, subtasks: fits ? own : [], reservation: null };
  });
}

/**
 * The leases of the Map's first calls, taken ahead in one go (their tickets and claims together,
 * before the Map starts, while the table is quiet) for the sub-agents it starts at once: each
 * sub-agent's first call then starts with no round trip to the limiter. As many as the key grants
 * within {@link FIRST_LEASES_WITHIN_MS}, at most `most`; each priced like the largest first call.
 */
function takeFirstLeases(
  firstLeases: FirstLeases | undefined,
  ref: JobRef,
  first: readonly CarriedAssignment[],
  settings: SubagentSettings,
): Promise<ReservedLease[]> {
  const count = Math.min(firstLeases?.most ?? 0, first.length);
  if (!firstLeases || count === 0) return Promise.resolve([]);
  const system = workloadOf(settings.workload).systemPrompt.length;
  const longest = first.reduce((most, a) => Math.max(most, a.subtasks[0]?.prompt.length ?? 0), 0);
  const estimatedTokens = estimateTokens(system + longest, settings.maxOutputTokens);
  return firstLeases.reserver.reserve(
    { role: 'subagent', tenantId: ref.tenantId, estimatedTokens },
    count,
    FIRST_LEASES_WITHIN_MS,
  );
}

/** The subtasks of `ids`, in that order, when `byId` has every one of them; else undefined. */
export function subtasksOf(
  ids: readonly string[],
  byId: ReadonlyMap<string, Subtask>,
): Subtask[] | undefined {
  const own = ids.map((id) => byId.get(id));
  return own.every((s) => s !== undefined) ? own : undefined;
}
