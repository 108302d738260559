import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SERVICE_NAME } from '#cdk/constructs/handler-function';
import { emfWriter } from '#lambdas/aggregate/handler';
import { FAN_OUT_METRICS, fanOutMetricsEmf } from '#shared/domain/fan-out-metrics';
import { synthesize } from './synth.ts';

const { workflowTemplate } = synthesize();

describe('the fan-out alarms', () => {
  it.each([
    [FAN_OUT_METRICS.serialCollapse, 'serial collapse'],
    [FAN_OUT_METRICS.spuriousParallelism, 'spurious parallelism'],
  ])('watch the %s metric the aggregate function emits', (metricName, what) => {
    workflowTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: FAN_OUT_METRICS.namespace,
      MetricName: metricName,
      Dimensions: [{ Name: FAN_OUT_METRICS.dimension, Value: SERVICE_NAME }],
      Statistic: 'Sum',
      Period: 900,
      Threshold: 5,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmDescription: Match.stringLikeRegexp(what),
    });
  });

  it('has exactly the two alarms', () => {
    workflowTemplate.resourceCountIs('AWS::CloudWatch::Alarm', 2);
  });

  it('emits the metrics the alarms watch, in the Embedded Metric Format, with the same dimension', () => {
    const doc = fanOutMetricsEmf(
      { serialCollapse: false, spuriousParallelism: true },
      { service: SERVICE_NAME, jobId: 'j', tenantId: 't', now: new Date(0) },
    );
    expect(doc).toEqual({
      _aws: {
        Timestamp: 0,
        CloudWatchMetrics: [
          {
            Namespace: 'ParlSwarm',
            Dimensions: [['service']],
            Metrics: [
              { Name: 'SerialCollapse', Unit: 'Count' },
              { Name: 'SpuriousParallelism', Unit: 'Count' },
              { Name: 'JobsFinished', Unit: 'Count' },
            ],
          },
        ],
      },
      service: SERVICE_NAME,
      SerialCollapse: 0,
      SpuriousParallelism: 1,
      JobsFinished: 1,
      jobId: 'j',
      tenantId: 't',
    });
  });

  it('writes the metric lines only inside Lambda', () => {
    const writes: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      writes.push(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      emfWriter({})('local');
      emfWriter({ AWS_LAMBDA_FUNCTION_NAME: 'aggregate' })('lambda');
    } finally {
      process.stdout.write = original;
    }
    expect(writes).toEqual(['lambda\n']);
  });
});
