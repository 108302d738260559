/**
 * Multi-stage jobs: after a stage, the orchestrator may run another one that re-dispatches the
 * subtasks still without a usable answer (failed, or whose sub-agent died), up to the request's
 * `maxStages`. The workflow loops from Aggregate back to the Map through its JobOutcome Choice.
 */
import { REQUEST_LIMITS } from '#shared/domain/request';
import type { ItemStore } from '#shared/ports/item-store';
import type { JobRecord, JobRef, JobStore, SubtaskResult } from '#shared/ports/job-store';
import { type PlanOutput, planStage, subagentSettings } from './plan-stage';

/** Aggregate's output when the job goes on: the Map's input for the next stage. */
export interface NextStageOutput extends PlanOutput {
  status: 'NEXT_STAGE';
}

/** The stages a job may run: its `maxStages` (default 1), never above REQUEST_LIMITS.maxStages. */
export const maxStagesOf = (job: Pick<JobRecord, 'request'>): number =>
  Math.min(job.request.maxStages ?? 1, REQUEST_LIMITS.maxStages);

/** Whether a job may run a stage after `stage` (a `parl` job below its `maxStages`). */
export const hasStageLeft = (job: Pick<JobRecord, 'request'>, stage: number): boolean =>
  stage < maxStagesOf(job) && job.request.mode === 'parl';

/**
 * Plans stage `stage + 1` when the job may run one more and some subtasks have no usable answer;
 * returns undefined otherwise.
 *
 * 1. the subtasks to re-dispatch: those whose result is missing or FAILED
 * 2. plan the stage (`planStage`) as the job's plan batched them, with the same width
 * 3. store the new plan (stage, agents, and the agents of the earlier stages) and return the Map's input
 */
export async function planNextStage(
  deps: { store: JobStore; items?: ItemStore },
  ref: JobRef,
  job: JobRecord,
  stage: number,
  subtaskIds: readonly string[],
  results: readonly SubtaskResult[],
): Promise<NextStageOutput | undefined> {
  if (!hasStageLeft(job, stage)) return undefined;
  const answered = new Set(results.filter((r) => r.status === 'ANSWERED').map((r) => r.subtaskId));
  const again = subtaskIds.filter((id) => !answered.has(id));
  if (again.length === 0) return undefined;
  const next = stage + 1;
  const earlierAgents = (job.plan?.earlierAgents ?? 0) + (job.plan?.agents ?? 0);
  // The new plan's record goes beside the items' put (`planStage`).
  const { output } = await planStage(
    deps,
    ref,
    {
      stage: next,
      subtaskIds: again,
      mode: 'parl',
      itemsPerAgent: job.plan?.itemsPerAgent ?? 1,
      width: job.plan?.maxConcurrency ?? Number.POSITIVE_INFINITY,
      settings: subagentSettings(job.request, job.plan),
    },
    (shape) =>
      deps.store.updateJob(ref, {
        plan: {
          ...(job.plan ?? { decomposedBy: 'request', subtasks: subtaskIds.length }),
          stage: next,
          agents: shape.agents,
          maxConcurrency: shape.maxConcurrency,
          mapMode: shape.mapMode,
          earlierAgents,
        },
      }),
  );
  return { status: 'NEXT_STAGE', ...output };
}
