import { Aws, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  type Alarm,
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  type MathExpression,
  Metric,
  Stats,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { STACK_OUTPUTS } from '#shared/domain/stack-outputs';
import {
  JOB_METRICS,
  METRICS_NAMESPACE,
  PROVIDER_METRICS,
  SERVICE_DIMENSION,
} from '#shared/domain/swarm-metrics';
import { depth, tableThrottles } from './swarm-alarms.ts';

/** The graphs' period. */
const PERIOD = Duration.minutes(5);
const WIDTH = 8;
const HEIGHT = 6;

/** What {@link SwarmDashboard} shows. */
export interface SwarmDashboardProps {
  readonly service: string;
  readonly stateMachine: IStateMachine;
  /** Every function, by its handler name (plan, subagent, aggregate, execution-ended, api, authorizer, batch). */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The function the Maps run per sub-agent (its task failures are the Maps' item failures). */
  readonly subagent: IFunction;
  readonly table: ITable;
  readonly tableIndex: string;
  readonly api: RestApi;
  /** The dead-letter queues, by a label (their depth is graphed). */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  /** Alarms whose state the dashboard's first row shows. */
  readonly alarms?: readonly Alarm[];
}

/**
 * The service's CloudWatch dashboard, one row per concern: alarms; executions and Map failures;
 * per-function errors, throttles and duration; DynamoDB throttles, dead letters and the API's
 * 4XX/5XX/latency; the per-job PARL measures (CriticalSteps, overhead, r_finish, rPARL), tokens,
 * cost and the provider's 429s. A stack output gives its console URL.
 */
export class SwarmDashboard extends Construct {
  readonly dashboard: Dashboard;
  /** The console URL of the dashboard (also the stack output `DashboardUrl`). */
  readonly url: string;

  constructor(scope: Construct, id: string, props: SwarmDashboardProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-swarm`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# PARL Swarm (${props.service})\nExecutions, Map failures, functions, table, queues, API, and the per-job PARL measures.`,
        width: 24,
        height: 2,
      }),
    );
    if (props.alarms?.length) {
      this.dashboard.addWidgets(
        new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24 }),
      );
    }
    this.dashboard.addWidgets(...workflowWidgets(props));
    this.dashboard.addWidgets(...functionWidgets(props.functions));
    this.dashboard.addWidgets(...dataWidgets(props));
    this.dashboard.addWidgets(...jobWidgets(props.service));

    this.url = `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`;
    new CfnOutput(stack, STACK_OUTPUTS.dashboardUrl, {
      description: 'The CloudWatch dashboard of the swarm',
      value: this.url,
    });
  }
}

function graph(title: string, left: IMetric[], right: IMetric[] = []): GraphWidget {
  return new GraphWidget({ title, left, right, width: WIDTH, height: HEIGHT, period: PERIOD });
}

/** A metric the functions emit through Powertools (namespace ParlSwarm, dimension service). */
function parl(service: string, metricName: string, statistic: string, label?: string): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { [SERVICE_DIMENSION]: service },
    statistic,
    period: PERIOD,
    ...(label ? { label } : {}),
  });
}

/** Executions by outcome, and the Maps' item failures. */
function workflowWidgets(props: SwarmDashboardProps): GraphWidget[] {
  const sm = props.stateMachine;
  const sum = { statistic: Stats.SUM, period: PERIOD };
  // The Lambda tasks name the function ARN as their Resource: Step Functions counts their failures per function.
  const task = (metricName: string, label: string) =>
    new Metric({
      namespace: 'AWS/States',
      metricName,
      dimensionsMap: { LambdaFunctionArn: props.subagent.functionArn },
      label,
      ...sum,
    });
  return [
    graph('Executions', [
      sm.metricStarted({ ...sum, label: 'started' }),
      sm.metricSucceeded({ ...sum, label: 'succeeded' }),
      sm.metricFailed({ ...sum, label: 'failed' }),
      sm.metricTimedOut({ ...sum, label: 'timed out' }),
      sm.metricAborted({ ...sum, label: 'aborted' }),
    ]),
    graph('Map failures (sub-agents)', [
      task('LambdaFunctionsFailed', 'sub-agent tasks failed'),
      task('LambdaFunctionsTimedOut', 'sub-agent tasks timed out'),
      parl(props.service, JOB_METRICS.subagentsFailed, Stats.SUM, 'sub-agents that did not complete'),
    ]),
    graph(
      'Execution time',
      [sm.metricTime({ statistic: Stats.p(50), period: PERIOD, label: 'p50' })],
      [sm.metricTime({ statistic: Stats.MAXIMUM, period: PERIOD, label: 'max' })],
    ),
  ];
}

/** Errors, throttles and duration of every function, one line per function. */
function functionWidgets(functions: SwarmDashboardProps['functions']): GraphWidget[] {
  const entries = Object.entries(functions);
  const each = (metric: (fn: IFunction, label: string) => IMetric) =>
    entries.map(([name, fn]) => metric(fn, name));
  return [
    graph(
      'Function errors',
      each((fn, label) => fn.metricErrors({ statistic: Stats.SUM, period: PERIOD, label })),
    ),
    graph(
      'Function throttles',
      each((fn, label) => fn.metricThrottles({ statistic: Stats.SUM, period: PERIOD, label })),
    ),
    graph(
      'Function duration (p99)',
      each((fn, label) => fn.metricDuration({ statistic: Stats.p(99), period: PERIOD, label })),
    ),
  ];
}

/** DynamoDB throttles, dead letters, and the API's errors and latency. */
function dataWidgets(props: SwarmDashboardProps): GraphWidget[] {
  const stage = props.api.deploymentStage;
  const sum = { statistic: Stats.SUM, period: PERIOD };
  const throttles: MathExpression = tableThrottles(props.table, PERIOD, props.tableIndex);
  return [
    graph('DynamoDB throttles', [throttles]),
    graph(
      'Dead-letter queues (messages)',
      Object.entries(props.deadLetterQueues).map(([label, queue]) => depth(queue).with({ label })),
    ),
    graph(
      'API 4XX / 5XX and latency',
      [stage.metricClientError({ ...sum, label: '4XX' }), stage.metricServerError({ ...sum, label: '5XX' })],
      [stage.metricLatency({ statistic: Stats.p(99), period: PERIOD, label: 'latency p99' })],
    ),
  ];
}

/** The per-job PARL measures the aggregate function emits, and the provider's answers. */
function jobWidgets(service: string): GraphWidget[] {
  const avg = (name: string, label: string) => parl(service, name, Stats.AVERAGE, label);
  const sum = (name: string, label: string) => parl(service, name, Stats.SUM, label);
  return [
    graph(
      'Steps per job',
      [avg(JOB_METRICS.criticalSteps, 'CriticalSteps'), avg(JOB_METRICS.sequentialSteps, 'SequentialSteps')],
      [sum(JOB_METRICS.jobsFinished, 'jobs finished')],
    ),
    graph(
      'Overhead (wall-clock / critical path)',
      [avg(JOB_METRICS.overhead, 'overhead')],
      [avg(JOB_METRICS.wallClockMs, 'wall-clock ms'), avg(JOB_METRICS.criticalPathMs, 'critical path ms')],
    ),
    graph('Reward', [
      avg(JOB_METRICS.rParl, 'rPARL'),
      avg(JOB_METRICS.rParallel, 'r_parallel'),
      avg(JOB_METRICS.rFinish, 'r_finish'),
      avg(JOB_METRICS.rPerf, 'r_perf'),
    ]),
    graph('Tokens', [
      sum(JOB_METRICS.inputTokens, 'input'),
      sum(JOB_METRICS.cachedInputTokens, 'cached input'),
      sum(JOB_METRICS.outputTokens, 'output'),
    ]),
    graph('Cost (USD)', [sum(JOB_METRICS.costUsd, 'cost')]),
    graph('Provider: calls, 429s, open circuit', [
      sum(PROVIDER_METRICS.modelCalls, 'model calls'),
      sum(JOB_METRICS.rateLimited, '429s (jobs finished)'),
      sum(PROVIDER_METRICS.circuitOpen, 'refused: circuit open'),
    ]),
  ];
}
