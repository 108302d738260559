import { Duration } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  type Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import {
  EXECUTION_METRICS,
  METRICS_NAMESPACE,
  PROVIDER_METRICS,
  SERVICE_DIMENSION,
} from '#shared/domain/swarm-metrics';

/** The window every alarm below evaluates (one period). */
export const ALARM_PERIOD = Duration.minutes(5);

/**
 * The thresholds (sums over {@link ALARM_PERIOD}). Orchestrator failures, dead letters, 5XX answers
 * and an open circuit fire at the first occurrence; DynamoDB throttling is a wait for the code
 * (the SDK retries it), so only a sustained amount fires.
 */
export const ALARM_THRESHOLDS = {
  functionErrors: 1,
  executions: 1,
  deadLetters: 1,
  api5xx: 1,
  tableThrottles: 10,
  circuitOpen: 1,
} as const;

/** What {@link SwarmAlarms} watches. */
export interface SwarmAlarmsProps {
  readonly service: string;
  readonly stateMachine: IStateMachine;
  readonly plan: IFunction;
  readonly aggregate: IFunction;
  readonly table: ITable;
  /** The table's index, whose throttling counts too. */
  readonly tableIndex: string;
  readonly api: RestApi;
  /** Status-change events the execution-ended function could not handle. */
  readonly executionEndedDlq: IQueue;
}

/** A Sum of one of the service's own metrics (Powertools EMF, the service dimension). */
function serviceMetricSum(service: string, metricName: string, period: Duration): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { [SERVICE_DIMENSION]: service },
    statistic: 'Sum',
    period,
  });
}

/**
 * The service's alarms (each notifies the alarm topic, through the stack's NotifyOnAlarm aspect):
 * - orchestrator failure: Plan or Aggregate function errors; executions failed, timed out, or
 *   stopped by someone other than their tenant; the execution-ended DLQ;
 * - the API answering 5XX, DynamoDB throttling on the table or its index, the provider's circuit open.
 * The batch DLQ's alarm is the batch intake's (stateful stack).
 */
export class SwarmAlarms extends Construct {
  readonly planErrors: Alarm;
  readonly aggregateErrors: Alarm;
  readonly executionsFailed: Alarm;
  readonly executionsTimedOut: Alarm;
  readonly executionsAborted: Alarm;
  readonly executionEndedDlq: Alarm;
  readonly api5xx: Alarm;
  readonly tableThrottles: Alarm;
  readonly circuitOpen: Alarm;
  /** Every alarm above. */
  readonly all: readonly Alarm[];

  constructor(scope: Construct, id: string, props: SwarmAlarmsProps) {
    super(scope, id);
    const period = ALARM_PERIOD;
    const fnErrors = (fn: IFunction) => fn.metricErrors({ period, statistic: 'Sum' });
    const serviceSum = (metricName: string) => serviceMetricSum(props.service, metricName, period);

    this.planErrors = this.atLeast(
      'PlanErrors',
      fnErrors(props.plan),
      ALARM_THRESHOLDS.functionErrors,
      'The orchestrator failed: the Plan function threw (its job goes to FinalizeFailure)',
    );
    this.aggregateErrors = this.atLeast(
      'AggregateErrors',
      fnErrors(props.aggregate),
      ALARM_THRESHOLDS.functionErrors,
      'The orchestrator failed: the Aggregate function threw (measures, reward or result not stored)',
    );
    this.executionsFailed = this.atLeast(
      'ExecutionsFailed',
      props.stateMachine.metricFailed({ period, statistic: 'Sum' }),
      ALARM_THRESHOLDS.executions,
      'Job executions ended FAILED (a failed job, or a failure outside the Catch)',
    );
    this.executionsTimedOut = this.atLeast(
      'ExecutionsTimedOut',
      props.stateMachine.metricTimedOut({ period, statistic: 'Sum' }),
      ALARM_THRESHOLDS.executions,
      'Job executions ran past the state machine timeout',
    );
    // A tenant's cancel stops an execution too (ExecutionsAborted counts it): the execution-ended
    // function counts only the executions stopped by anyone else.
    this.executionsAborted = this.atLeast(
      'ExecutionsAborted',
      serviceSum(EXECUTION_METRICS.stopped),
      ALARM_THRESHOLDS.executions,
      'Job executions were stopped by someone other than their tenant',
    );
    this.executionEndedDlq = this.atLeast(
      'ExecutionEndedDlq',
      depth(props.executionEndedDlq),
      ALARM_THRESHOLDS.deadLetters,
      'Execution status events could not close their job: they wait in the execution-ended DLQ',
    );
    this.api5xx = this.atLeast(
      'Api5xx',
      props.api.deploymentStage.metricServerError({ period, statistic: 'Sum' }),
      ALARM_THRESHOLDS.api5xx,
      'The tenant API answered 5XX (bad input must get a 4XX; a 5XX is a fault)',
    );
    this.tableThrottles = this.atLeast(
      'TableThrottles',
      tableThrottles(props.table, period, props.tableIndex),
      ALARM_THRESHOLDS.tableThrottles,
      'DynamoDB throttled reads or writes on the data table or its index',
    );
    this.circuitOpen = this.atLeast(
      'ProviderCircuitOpen',
      serviceSum(PROVIDER_METRICS.circuitOpen),
      ALARM_THRESHOLDS.circuitOpen,
      'The model provider kept failing: its circuit is open and model calls are refused',
    );
    this.all = [
      this.planErrors,
      this.aggregateErrors,
      this.executionsFailed,
      this.executionsTimedOut,
      this.executionsAborted,
      this.executionEndedDlq,
      this.api5xx,
      this.tableThrottles,
      this.circuitOpen,
    ];
  }

  private atLeast(
    id: string,
    metric: Metric | MathExpression,
    threshold: number,
    description: string,
  ): Alarm {
    return metric.createAlarm(this, id, {
      alarmDescription: description,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}

/** A queue's visible messages (the most seen in a minute): what waits in a dead-letter queue. */
export function depth(queue: IQueue): Metric {
  return queue.metricApproximateNumberOfMessagesVisible({
    period: Duration.minutes(1),
    statistic: 'Maximum',
  });
}

/** Read and write throttle events on the table and on its index, summed. */
export function tableThrottles(table: ITable, period: Duration, index?: string): MathExpression {
  const events = (metricName: string, gsi?: string) =>
    new Metric({
      namespace: 'AWS/DynamoDB',
      metricName,
      dimensionsMap: { TableName: table.tableName, ...(gsi ? { GlobalSecondaryIndexName: gsi } : {}) },
      statistic: 'Sum',
      period,
    });
  const usingMetrics: Record<string, IMetric> = {
    reads: events('ReadThrottleEvents'),
    writes: events('WriteThrottleEvents'),
  };
  if (index) {
    usingMetrics.indexReads = events('ReadThrottleEvents', index);
    usingMetrics.indexWrites = events('WriteThrottleEvents', index);
  }
  return new MathExpression({
    // Throttle events are published only when they happen: a missing series counts as zero.
    expression: Object.keys(usingMetrics)
      .map((name) => `FILL(${name}, 0)`)
      .join(' + '),
    usingMetrics,
    label: 'DynamoDB throttle events',
    period,
  });
}
