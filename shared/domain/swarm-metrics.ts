/**
 * The CloudWatch metrics the functions emit (through Powertools Metrics, as Embedded Metric Format
 * lines) and the CDK app's alarms and dashboard read. The names live here, once, so emitters and
 * watchers cannot drift apart; the data points of a finished job are a pure function of its measures.
 */
import type { JobMetrics } from './types';

/** The namespace of every metric the functions emit. */
export const METRICS_NAMESPACE = 'ParlSwarm';

/** The one dimension, `service` (Powertools' default dimension: the functions' POWERTOOLS_SERVICE_NAME). */
export const SERVICE_DIMENSION = 'service';

/** The per-job metrics the aggregate function emits when it closes a job. */
export const JOB_METRICS = {
  jobsFinished: 'JobsFinished',
  criticalSteps: 'CriticalSteps',
  sequentialSteps: 'SequentialSteps',
  stepSpeedup: 'StepSpeedup',
  wallClockMs: 'WallClockMs',
  criticalPathMs: 'CriticalPathMs',
  overhead: 'Overhead',
  rParallel: 'RParallel',
  rFinish: 'RFinish',
  rPerf: 'RPerf',
  rParl: 'RParl',
  subagentsSpawned: 'SubagentsSpawned',
  subagentsFailed: 'SubagentsFailed',
  inputTokens: 'InputTokens',
  outputTokens: 'OutputTokens',
  cachedInputTokens: 'CachedInputTokens',
  costUsd: 'CostUsd',
  rateLimited: 'RateLimited',
  serialCollapse: 'SerialCollapse',
  spuriousParallelism: 'SpuriousParallelism',
} as const;

/** What the functions that call the model emit per invocation: provider calls and the circuit breaker's refusals. */
export const PROVIDER_METRICS = {
  /** Calls that reached the provider (retries included). */
  modelCalls: 'ModelCalls',
  /** Calls the shared limiter refused because the provider's circuit was open. */
  circuitOpen: 'ProviderCircuitOpen',
} as const;

/** What the execution-ended function emits about the executions that ended outside the workflow's own path. */
export const EXECUTION_METRICS = {
  /** Executions stopped by someone other than their tenant (a tenant's cancel stops its execution too, and is not counted). */
  stopped: 'ExecutionsStopped',
} as const;

/** The CloudWatch units the metrics use (a subset of Powertools' MetricUnit values). */
export type MetricUnitName = 'Count' | 'Milliseconds' | 'None';

/** One data point. */
export interface MetricPoint {
  readonly name: string;
  readonly unit: MetricUnitName;
  readonly value: number;
}

/**
 * The data points of one finished job: its measures (CriticalSteps, overhead, r_finish, rPARL…),
 * tokens, cost, the provider's 429s and the failure-mode flags (1 when flagged, else 0).
 * r_perf and rPARL are left out for an unscored job (null), so averages cover scored jobs only, and
 * so is any value that is not a finite number (CloudWatch takes none).
 *
 * @example
 * for (const p of jobMetricPoints(job.metrics)) metrics.addMetric(p.name, p.unit, p.value);
 */
export function jobMetricPoints(m: JobMetrics): MetricPoint[] {
  const count = (name: string, value: number): MetricPoint => ({ name, unit: 'Count', value });
  const ms = (name: string, value: number): MetricPoint => ({ name, unit: 'Milliseconds', value });
  const ratio = (name: string, value: number): MetricPoint => ({ name, unit: 'None', value });
  const points: MetricPoint[] = [
    count(JOB_METRICS.jobsFinished, 1),
    count(JOB_METRICS.criticalSteps, m.criticalSteps),
    count(JOB_METRICS.sequentialSteps, m.sequentialSteps),
    ratio(JOB_METRICS.stepSpeedup, m.stepSpeedup),
    ms(JOB_METRICS.wallClockMs, m.wallClockMs),
    ms(JOB_METRICS.criticalPathMs, m.criticalPathMs),
    ratio(JOB_METRICS.overhead, m.overhead),
    ratio(JOB_METRICS.rParallel, m.rParallel),
    ratio(JOB_METRICS.rFinish, m.rFinish),
    count(JOB_METRICS.subagentsSpawned, m.subagents.spawned),
    count(JOB_METRICS.subagentsFailed, Math.max(0, m.subagents.spawned - m.subagents.completed)),
    count(JOB_METRICS.inputTokens, m.tokens.input),
    count(JOB_METRICS.outputTokens, m.tokens.output),
    count(JOB_METRICS.cachedInputTokens, m.tokens.cachedInput),
    ratio(JOB_METRICS.costUsd, m.costUsd),
  ];
  if (m.rPerf !== null) points.push(ratio(JOB_METRICS.rPerf, m.rPerf));
  if (m.reward !== null) points.push(ratio(JOB_METRICS.rParl, m.reward));
  if (m.provider) points.push(count(JOB_METRICS.rateLimited, m.provider.rateLimited));
  if (m.flags) {
    points.push(count(JOB_METRICS.serialCollapse, m.flags.serialCollapse ? 1 : 0));
    points.push(count(JOB_METRICS.spuriousParallelism, m.flags.spuriousParallelism ? 1 : 0));
  }
  return points.filter((p) => Number.isFinite(p.value));
}
