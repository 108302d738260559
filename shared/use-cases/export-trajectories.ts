/**
 * Trajectory export: one record per finished job with the state the orchestrator saw, the actions it
 * took, per-stage step counts and timings, and the reward with its parts and weights. The JSONL of
 * these records is input for offline RL fine-tuning of an orchestrator model (see the README).
 */
import type { AppConfig } from '#shared/config';
import { stageTotals } from '#shared/domain/measures';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import type { JobRecord, JobStore, StepRecorder } from '#shared/ports/job-store';
import { allItems } from '#shared/ports/paging';

/** The schema version of a trajectory record. */
export const TRAJECTORY_VERSION = 1;

/** The limits the orchestrator planned within. */
export type TrajectoryLimits = Pick<
  AppConfig,
  'maxSubagentsCap' | 'defaultMaxSubagents' | 'subagentStepBudget' | 'maxOutputTokens'
>;

/** One job as a trajectory: state → actions → per-stage steps → reward. */
export interface Trajectory {
  version: number;
  tenantId: string;
  jobId: string;
  acceptedAt: string;
  finishedAt?: string;
  status: JobRecord['status'];
  state: {
    task: string;
    taskClass?: string;
    workload: string;
    mode: string;
    subtasks: number;
    /** The service's limits, and the tenant's cap on sub-agents at once when the job had one. */
    limits: TrajectoryLimits & { tenantMaxSubagents?: number };
    /** What the policy knew when it chose (its version); absent when the policy was off. */
    policyVersion?: number;
  };
  actions: {
    decomposition: { subtasks: number; by: string };
    width: number;
    itemsPerAgent: number;
    agents: number;
    mapMode: string;
    outputTokenBudget?: { full: number; used: number; reduced: boolean };
    stages: number;
    policy?: { mode: string; armId?: string; reason?: string; pinned: string[] };
  };
  stages: {
    stage: number;
    mainSteps: number;
    subSteps: number;
    maxSubSteps: number;
    agents: number;
    criticalPathMs: number;
    sequentialMs: number;
    startedAt?: string;
    endedAt?: string;
  }[];
  reward: {
    rPARL: number | null;
    rParallel: number;
    rFinish: number;
    rPerf: number | null;
    weights: { parallel: number; finish: number; perf: number };
    criticalSteps: number;
    sequentialSteps: number;
  } | null;
  outcome: {
    error?: string;
    wallClockMs?: number;
    tokens?: { input: number; output: number; cachedInput: number };
    costUsd?: number;
    flags?: { serialCollapse: boolean; spuriousParallelism: boolean };
  };
}

/**
 * The trajectories of a tenant's finished jobs accepted at or after `since`, oldest first.
 *
 * 1. list the tenant's jobs (a tenant never sees another's)
 * 2. skip jobs that have not finished
 * 3. read each job's steps and build its record
 */
export async function* exportTrajectories(
  deps: { jobs: Pick<JobStore, 'listJobs'>; steps: StepRecorder; limits: TrajectoryLimits },
  input: { tenantId: string; since?: string },
): AsyncIterable<Trajectory> {
  const jobs = allItems((cursor) =>
    deps.jobs.listJobs(input.tenantId, {
      order: 'oldest',
      consistent: true,
      limit: 100,
      ...(input.since ? { since: input.since } : {}),
      ...(cursor ? { cursor } : {}),
    }),
  );
  for await (const job of jobs) {
    if (!TERMINAL_STATUSES.includes(job.status)) continue;
    const steps = await deps.steps.listSteps(job);
    yield toTrajectory(job, steps, deps.limits);
  }
}

/** Builds one job's trajectory from its record and its steps. */
export function toTrajectory(
  job: JobRecord,
  steps: Awaited<ReturnType<StepRecorder['listSteps']>>,
  limits: TrajectoryLimits,
): Trajectory {
  const plan = job.plan;
  const m = job.metrics;
  return {
    version: TRAJECTORY_VERSION,
    tenantId: job.tenantId,
    jobId: job.jobId,
    acceptedAt: job.acceptedAt,
    ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
    status: job.status,
    state: {
      task: job.request.task,
      ...(job.request.taskClass ? { taskClass: job.request.taskClass } : {}),
      workload: job.request.workload,
      mode: job.request.mode,
      subtasks: plan?.subtasks ?? 0,
      limits: { ...limits, ...(job.maxWidth === undefined ? {} : { tenantMaxSubagents: job.maxWidth }) },
      ...(plan?.policy?.policyVersion === undefined ? {} : { policyVersion: plan.policy.policyVersion }),
    },
    actions: actionsOf(plan),
    stages: stagesOf(steps),
    reward: m
      ? {
          rPARL: m.reward,
          rParallel: m.rParallel,
          rFinish: m.rFinish,
          rPerf: m.rPerf,
          weights: m.weights,
          criticalSteps: m.criticalSteps,
          sequentialSteps: m.sequentialSteps,
        }
      : null,
    outcome: {
      ...(job.error ? { error: job.error } : {}),
      ...(m
        ? {
            wallClockMs: m.wallClockMs,
            tokens: m.tokens,
            costUsd: m.costUsd,
            ...(m.flags ? { flags: m.flags } : {}),
          }
        : {}),
    },
  };
}

/** Each stage's steps and times. */
function stagesOf(steps: Awaited<ReturnType<StepRecorder['listSteps']>>): Trajectory['stages'] {
  return stageTotals(steps).map((t) => {
    const own = steps.filter((s) => s.stage === t.stage);
    const sub = [...t.subSteps.values()];
    const subMs = [...t.subMs.values()];
    const starts = own.map((s) => s.startedAt).sort();
    const ends = own.map((s) => s.endedAt).sort();
    return {
      stage: t.stage,
      mainSteps: t.mainSteps,
      subSteps: sub.reduce((a, b) => a + b, 0),
      maxSubSteps: Math.max(0, ...sub),
      agents: sub.length,
      criticalPathMs: t.mainMs + Math.max(0, ...subMs),
      sequentialMs: t.mainMs + subMs.reduce((a, b) => a + b, 0),
      ...(starts[0] ? { startedAt: starts[0] } : {}),
      ...(ends.length > 0 ? { endedAt: ends[ends.length - 1] } : {}),
    };
  });
}

/** What the orchestrator chose: decomposition, fan-out, Map mode, budget, stages, policy. */
function actionsOf(plan: JobRecord['plan']): Trajectory['actions'] {
  return {
    decomposition: { subtasks: plan?.subtasks ?? 0, by: plan?.decomposedBy ?? 'none' },
    width: plan?.policy?.width ?? plan?.maxConcurrency ?? 0,
    itemsPerAgent: plan?.itemsPerAgent ?? 1,
    agents: (plan?.earlierAgents ?? 0) + (plan?.agents ?? 0),
    mapMode: plan?.mapMode ?? 'none',
    ...(plan?.budget
      ? {
          outputTokenBudget: {
            full: plan.budget.fullBudget,
            used: plan.budget.budget,
            reduced: plan.budget.reduced,
          },
        }
      : {}),
    stages: plan?.stage ?? 0,
    ...(plan?.policy
      ? {
          policy: {
            mode: plan.policy.mode,
            ...(plan.policy.armId ? { armId: plan.policy.armId } : {}),
            ...(plan.policy.reason ? { reason: plan.policy.reason } : {}),
            pinned: plan.policy.pinned,
          },
        }
      : {}),
  };
}
