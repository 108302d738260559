/**
 * Scoring a job that ends: its measures from the stored steps, the weights of rPARL (annealed when
 * the tenant asks), what TOGGLE saved, and the lesson its policy learns from the reward.
 */
import type { AppConfig } from '#shared/config';
import {
  computeJobMetrics,
  DEFAULT_WEIGHTS,
  KIMI_K25_PRICES,
  providerMetrics,
} from '#shared/domain/measures';
import type {
  JobMetrics,
  PriceTable,
  ProviderMetrics,
  RewardWeights,
  StepRecord,
  Subtask,
} from '#shared/domain/types';
import type { JobRecord, JobRef, PlanPolicy, SubtaskResult } from '#shared/ports/job-store';
import type { PolicyStore } from '#shared/ports/policy-store';
import { jobAwsCost } from './job-aws-cost';
import { learnFromJob, scoringWeights } from './policy';

/** What scoring a job needs. */
export interface ScoreJobDeps {
  weights?: RewardWeights;
  prices?: PriceTable;
  /** The fan-out policies; without them no job trains a policy. */
  policies?: PolicyStore;
  config?: Partial<Pick<AppConfig, 'policy' | 'spuriousFinishThreshold' | 'awsPrices'>>;
  /** The provider the job ran against; its summary goes into the metrics. */
  provider?: Omit<ProviderMetrics, 'calls' | 'retries' | 'rateLimited' | 'waitedMs' | 'limiterMs'>;
}

/** What the job came to, as the closing step read it. */
export interface JobTally {
  job: JobRecord;
  steps: readonly StepRecord[];
  spawned: number;
  completed: number;
  /** The results' counts (see {@link summarize}). */
  summary: Record<string, number>;
  subtasks: number;
  finishedAt: string;
  /** Whether the job's policy may learn from it (not on the failure path). */
  learn: boolean;
}

/** Counts of the stage's results; `scored`/`correct` only over subtasks with ground truth. */
export function summarize(
  results: readonly SubtaskResult[],
  subtasks: readonly Subtask[],
): Record<string, number> {
  const answered = results.filter((r) => r.status === 'ANSWERED');
  const summary: Record<string, number> = {
    subtasks: subtasks.length,
    answered: answered.length,
    unanswered: subtasks.length - answered.length,
  };
  const cut = answered.filter((r) => r.cut).length;
  if (cut > 0) summary.cut = cut;
  const verdicts = answered.filter((r) => r.verdict);
  if (verdicts.length > 0) {
    summary.compliant = verdicts.filter((r) => r.verdict === 'compliant').length;
    summary.nonCompliant = verdicts.filter((r) => r.verdict === 'non_compliant').length;
  }
  // Every subtask with ground truth is scored; one without a usable answer (its agent died) is wrong.
  const withTruth = new Set(subtasks.filter((s) => s.expected !== undefined).map((s) => s.id));
  if (withTruth.size > 0) {
    summary.scored = withTruth.size;
    summary.correct = results.filter((r) => withTruth.has(r.subtaskId) && r.correct === true).length;
  }
  return summary;
}

/**
 * Scores a job.
 *
 * 1. the weights: the job's (or the service's) λ, annealed by the policy's experience when the job
 *    was planned by a policy
 * 2. the measures from the stored steps (CriticalSteps, rewards, tokens, cost, failure-mode flags)
 * 3. a job planned with a budget: what TOGGLE saved
 * 4. a job planned by a policy: a scored job teaches the policy its rPARL (idempotent per job;
 *    unscored jobs and the failure path do not train), and the metrics say so
 * 5. the provider's summary, when the job ran against a known one
 * 6. what it cost on AWS (`jobAwsCost`), beside the tokens' cost, and the total
 */
export async function scoreJob(deps: ScoreJobDeps, tally: JobTally): Promise<JobMetrics> {
  const { job, steps } = tally;
  const planPolicy = job.plan?.policy;
  const policies = planPolicy && planPolicy.mode !== 'off' ? deps.policies : undefined;
  const metrics = computeJobMetrics({
    steps,
    spawned: tally.spawned,
    completed: tally.completed,
    correct: tally.summary.correct ?? 0,
    scored: tally.summary.scored ?? 0,
    acceptedAt: job.acceptedAt,
    finishedAt: tally.finishedAt,
    weights: await weightsOf(deps, job, policies),
    prices: deps.prices ?? KIMI_K25_PRICES,
    mode: job.request.mode,
    subtasks: tally.subtasks,
    ...(deps.config?.spuriousFinishThreshold === undefined
      ? {}
      : { spuriousFinishThreshold: deps.config.spuriousFinishThreshold }),
  });
  const budget = job.plan?.budget;
  if (budget && planPolicy) {
    const subCalls = steps.filter((s) => s.role === 'sub').length;
    metrics.toggle = {
      fullBudget: budget.fullBudget,
      budget: budget.budget,
      reduced: budget.reduced,
      tokensSaved: (budget.fullBudget - budget.budget) * subCalls,
    };
  }
  if (planPolicy) {
    const trained = await teachPolicy(policies, job, planPolicy, metrics, tally);
    metrics.policy = {
      taskClass: planPolicy.taskClass,
      mode: planPolicy.mode,
      ...(planPolicy.armId ? { armId: planPolicy.armId } : {}),
      width: planPolicy.width,
      itemsPerAgent: planPolicy.itemsPerAgent,
      trained,
    };
  }
  if (deps.provider) metrics.provider = providerMetrics(deps.provider, steps);
  Object.assign(
    metrics,
    jobAwsCost(job, steps, metrics, {
      subtasks: tally.subtasks,
      limiter: deps.provider?.limiter ?? false,
      prices: deps.config?.awsPrices,
    }),
  );
  return metrics;
}

/** The λ of rPARL: the job's or the service's, annealed when a policy planned the job. */
function weightsOf(
  deps: ScoreJobDeps,
  job: JobRecord,
  policies: PolicyStore | undefined,
): Promise<RewardWeights> {
  const baseWeights = job.weights ?? deps.weights ?? DEFAULT_WEIGHTS;
  const planPolicy = job.plan?.policy;
  if (!policies || !planPolicy) return Promise.resolve(baseWeights);
  return scoringWeights(
    { policies },
    job.tenantId,
    planPolicy.taskClass,
    baseWeights,
    job.annealJobs ?? deps.config?.policy?.annealJobs ?? 0,
  );
}

/** Teaches the job's policy its reward when it may learn and the job is scored; true if it did. */
async function teachPolicy(
  policies: PolicyStore | undefined,
  ref: JobRef,
  policy: PlanPolicy,
  metrics: JobMetrics,
  tally: JobTally,
): Promise<boolean> {
  if (!policies || !tally.learn || metrics.reward === null || metrics.rPerf === null) return false;
  await learnFromJob(
    { policies },
    {
      tenantId: ref.tenantId,
      jobId: ref.jobId,
      policy,
      subtasks: tally.subtasks,
      reward: metrics.reward,
      rPerf: metrics.rPerf,
    },
  );
  return true;
}
