/**
 * The CloudWatch metrics a finished job emits so alarms can watch PARL's failure modes: one data
 * point per job for serial collapse and for spurious parallelism (1 when flagged, else 0), and one
 * for the job itself. The names live here so the CDK alarms and the emitter cannot drift apart.
 */
import type { JobMetrics } from './types';

export const FAN_OUT_METRICS = {
  namespace: 'ParlSwarm',
  /** The one dimension, `service` (the functions' POWERTOOLS_SERVICE_NAME). */
  dimension: 'service',
  serialCollapse: 'SerialCollapse',
  spuriousParallelism: 'SpuriousParallelism',
  jobsFinished: 'JobsFinished',
} as const;

/**
 * The job's data points as a CloudWatch Embedded Metric Format document (one log line; CloudWatch
 * turns it into metrics, no API call). `jobId` and `tenantId` ride along as properties, not dimensions.
 */
export function fanOutMetricsEmf(
  flags: NonNullable<JobMetrics['flags']>,
  context: { service: string; jobId: string; tenantId: string; now?: Date },
): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: (context.now ?? new Date()).getTime(),
      CloudWatchMetrics: [
        {
          Namespace: FAN_OUT_METRICS.namespace,
          Dimensions: [[FAN_OUT_METRICS.dimension]],
          Metrics: [
            { Name: FAN_OUT_METRICS.serialCollapse, Unit: 'Count' },
            { Name: FAN_OUT_METRICS.spuriousParallelism, Unit: 'Count' },
            { Name: FAN_OUT_METRICS.jobsFinished, Unit: 'Count' },
          ],
        },
      ],
    },
    [FAN_OUT_METRICS.dimension]: context.service,
    [FAN_OUT_METRICS.serialCollapse]: flags.serialCollapse ? 1 : 0,
    [FAN_OUT_METRICS.spuriousParallelism]: flags.spuriousParallelism ? 1 : 0,
    [FAN_OUT_METRICS.jobsFinished]: 1,
    jobId: context.jobId,
    tenantId: context.tenantId,
  };
}
