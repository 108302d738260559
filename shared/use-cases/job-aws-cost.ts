/**
 * A finished job's cost on AWS, from its records (`shared/domain/aws-cost.ts`), put beside its
 * token cost in the metrics: `aws` (what it used), `awsCostUsd` and `totalCostUsd`.
 */
import { type AwsPrices, awsCostUsd, awsUsageOf, US_EAST_1_PRICES } from '#shared/domain/aws-cost';
import type { JobMetrics, StepRecord } from '#shared/domain/types';
import type { JobRecord } from '#shared/ports/job-store';

/** The AWS part of a job's metrics. */
export type AwsCostMetrics = Required<Pick<JobMetrics, 'aws' | 'awsCostUsd' | 'totalCostUsd'>>;

/**
 * Counts and prices what `job` used on AWS, given its steps and its scored metrics.
 *
 * @example
 * Object.assign(metrics, jobAwsCost(job, steps, metrics, { prices: config.awsPrices, limiter: true }));
 */
export function jobAwsCost(
  job: Pick<JobRecord, 'plan'>,
  steps: readonly StepRecord[],
  metrics: Pick<JobMetrics, 'subagents' | 'costUsd'>,
  options: { subtasks: number; limiter: boolean; prices?: AwsPrices | undefined },
): AwsCostMetrics {
  const stages = Math.max(1, job.plan?.stage ?? 1);
  const usage = awsUsageOf({
    steps,
    subagents: metrics.subagents.spawned,
    failedSubagents: Math.max(0, metrics.subagents.spawned - metrics.subagents.completed),
    subtasks: options.subtasks,
    stages,
    // The last stage's Map mode stands for every stage (a later stage is never wider).
    distributedStages: job.plan?.mapMode === 'DISTRIBUTED' ? stages : 0,
    limiter: options.limiter,
  });
  const aws = awsCostUsd(usage, options.prices ?? US_EAST_1_PRICES);
  return { aws: usage, awsCostUsd: aws, totalCostUsd: round8(metrics.costUsd + aws) };
}

const round8 = (x: number) => Math.round(x * 1e8) / 1e8;
