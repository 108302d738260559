import { Duration } from 'aws-cdk-lib';
import { type Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { JOB_METRICS, METRICS_NAMESPACE, SERVICE_DIMENSION } from '#shared/domain/swarm-metrics';

/** When the alarms fire: this many flagged jobs within one period. */
export interface FanOutAlarmProps {
  readonly service: string;
  /** Flagged jobs per period that raise an alarm (default 5). */
  readonly threshold?: number;
  /** Default 15 minutes. */
  readonly period?: Duration;
}

/**
 * Alarms on PARL's failure modes, from the metrics the aggregate function emits per finished job
 * (Powertools Metrics, Embedded Metric Format): serial collapse (a job that could fan out ran one sub-agent) and
 * spurious parallelism (r_finish below the threshold, PARL_SPURIOUS_FINISH_THRESHOLD).
 */
export class FanOutAlarms extends Construct {
  readonly serialCollapse: Alarm;
  readonly spuriousParallelism: Alarm;

  constructor(scope: Construct, id: string, props: FanOutAlarmProps) {
    super(scope, id);
    const metric = (metricName: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [SERVICE_DIMENSION]: props.service },
        statistic: 'Sum',
        period: props.period ?? Duration.minutes(15),
      });
    const alarm = (alarmId: string, metricName: string, what: string) =>
      metric(metricName).createAlarm(this, alarmId, {
        alarmDescription: `${props.threshold ?? 5} or more jobs with ${what} within ${(props.period ?? Duration.minutes(15)).toMinutes()} minutes`,
        threshold: props.threshold ?? 5,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    this.serialCollapse = alarm('SerialCollapse', JOB_METRICS.serialCollapse, 'serial collapse');
    this.spuriousParallelism = alarm(
      'SpuriousParallelism',
      JOB_METRICS.spuriousParallelism,
      'spurious parallelism',
    );
  }
}
