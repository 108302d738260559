import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SERVICE_NAME } from '#cdk/constructs/handler-function';
import { JOB_METRICS, METRICS_NAMESPACE, SERVICE_DIMENSION } from '#shared/domain/swarm-metrics';
import { synthesize } from './synth.ts';

const { workflowTemplate } = synthesize();

describe('the fan-out alarms', () => {
  it.each([
    [JOB_METRICS.serialCollapse, 'serial collapse'],
    [JOB_METRICS.spuriousParallelism, 'spurious parallelism'],
  ])('watch the %s metric the aggregate function emits', (metricName, what) => {
    workflowTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS_NAMESPACE,
      MetricName: metricName,
      Dimensions: [{ Name: SERVICE_DIMENSION, Value: SERVICE_NAME }],
      Statistic: 'Sum',
      Period: 900,
      Threshold: 5,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmDescription: Match.stringLikeRegexp(what),
    });
  });

  it('are the only two alarms on the failure-mode flags', () => {
    const flagged = Object.values(workflowTemplate.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
      [JOB_METRICS.serialCollapse, JOB_METRICS.spuriousParallelism].includes(alarm.Properties.MetricName),
    );
    expect(flagged).toHaveLength(2);
  });
});
