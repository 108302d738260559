import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ALARM_EMAIL_CONTEXT, alarmEmailsFromContext } from '#cdk/constructs/alerts';
import { SERVICE_NAME } from '#cdk/constructs/handler-function';
import { TENANT_JOBS_INDEX } from '#cdk/stateful-stack';
import {
  EXECUTION_METRICS,
  JOB_METRICS,
  METRICS_NAMESPACE,
  PROVIDER_METRICS,
} from '#shared/domain/swarm-metrics';
import { logicalIdOf, synthesize } from './synth.ts';

const built = synthesize();
const { workflow, stateful, workflowTemplate, statefulTemplate } = built;

type Json = Record<string, unknown>;

/** `value`, or a thrown error naming `what` when it is missing. */
function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}`);
  return value;
}

/** A CloudFormation value as text: a token becomes its JSON (so `{Ref: X}` reads `{"Ref":"X"}`). */
const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** The dashboard body (a Fn::Join of JSON text and tokens) parsed, each token kept as its JSON text. */
function dashboardBody(template: Template): { widgets: Json[] } {
  const [dashboard, ...others] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(others).toHaveLength(0);
  const [, parts] = defined(dashboard, 'dashboard').Properties.DashboardBody['Fn::Join'] as [
    string,
    unknown[],
  ];
  // Tokens sit inside JSON string literals: insert their JSON text escaped as string content.
  const joined = parts.map((part) =>
    typeof part === 'string' ? part : JSON.stringify(text(part)).slice(1, -1),
  );
  return JSON.parse(joined.join('')) as { widgets: Json[] };
}

/** The properties of the widget titled `title` (the test fails without one). */
function propertiesOf(widgets: Json[], title: string): Json {
  const widget = widgets.find((w) => (w.properties as Json | undefined)?.title === title);
  return defined(widget, `widget titled "${title}"`).properties as Json;
}

/** The metrics of a dashboard widget as `namespace/name` with their dimensions, options dropped. */
function widgetMetrics(widgets: Json[], title: string): { id: string; dimensions: Record<string, string> }[] {
  const metrics = (propertiesOf(widgets, title).metrics ?? []) as unknown[][];
  return metrics.map((row) => {
    const fields = row.filter((cell) => typeof cell === 'string') as string[];
    const [namespace, name, ...dims] = fields;
    const dimensions: Record<string, string> = {};
    for (let i = 0; i + 1 < dims.length; i += 2) dimensions[dims[i] as string] = dims[i + 1] as string;
    return { id: `${namespace}/${name}`, dimensions };
  });
}

const ref = (logicalId: string) => JSON.stringify({ Ref: logicalId });
const stateMachineRef = ref(logicalIdOf(workflow.stateMachine));
const service = { service: SERVICE_NAME };

describe('the CloudWatch dashboard', () => {
  const { widgets } = dashboardBody(workflowTemplate);

  it('graphs the executions started, succeeded, failed, timed out and aborted of the job state machine', () => {
    expect(widgetMetrics(widgets, 'Executions')).toEqual(
      ['Started', 'Succeeded', 'Failed', 'TimedOut', 'Aborted'].map((what) => ({
        id: `AWS/States/Executions${what}`,
        dimensions: { StateMachineArn: stateMachineRef },
      })),
    );
  });

  it("graphs the Maps' failures: the sub-agent tasks failed and timed out, and sub-agents that did not complete", () => {
    const subagentArn = JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(workflow.subagent), 'Arn'] });
    expect(widgetMetrics(widgets, 'Map failures (sub-agents)')).toEqual([
      { id: 'AWS/States/LambdaFunctionsFailed', dimensions: { LambdaFunctionArn: subagentArn } },
      { id: 'AWS/States/LambdaFunctionsTimedOut', dimensions: { LambdaFunctionArn: subagentArn } },
      { id: `${METRICS_NAMESPACE}/${JOB_METRICS.subagentsFailed}`, dimensions: service },
    ]);
  });

  it.each([
    ['Function errors', 'Errors'],
    ['Function throttles', 'Throttles'],
    ['Function duration (p99)', 'Duration'],
  ])('graphs %s for every one of the eight functions', (title, metricName) => {
    const functions = workflowTemplate.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: SERVICE_NAME } } },
    });
    expect(Object.keys(functions)).toHaveLength(8);
    expect(widgetMetrics(widgets, title)).toEqual(
      Object.keys(functions).map((id) => ({
        id: `AWS/Lambda/${metricName}`,
        dimensions: { FunctionName: ref(id) },
      })),
    );
  });

  it('graphs DynamoDB throttle events of the table and its index, summed', () => {
    const rows = propertiesOf(widgets, 'DynamoDB throttles').metrics as unknown[][];
    const expression = rows.find((row) => typeof (row[0] as Json).expression === 'string')?.[0] as Json;
    expect(expression.expression).toBe(
      'FILL(reads, 0) + FILL(writes, 0) + FILL(indexReads, 0) + FILL(indexWrites, 0)',
    );
    const named = rows
      .filter((row) => typeof row[0] === 'string')
      .map((row) => row.filter((c) => typeof c === 'string'));
    expect(named).toEqual(
      expect.arrayContaining([
        expect.arrayContaining(['AWS/DynamoDB', 'ReadThrottleEvents', 'TableName']),
        expect.arrayContaining([
          'AWS/DynamoDB',
          'WriteThrottleEvents',
          'GlobalSecondaryIndexName',
          TENANT_JOBS_INDEX,
        ]),
      ]),
    );
  });

  it('graphs the depth of both dead-letter queues', () => {
    const metrics = widgetMetrics(widgets, 'Dead-letter queues (messages)');
    expect(metrics.map((m) => m.id)).toEqual([
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
    ]);
    expect(metrics[0]?.dimensions.QueueName).toContain(logicalIdOf(workflow.executionEndedDlq));
    expect(metrics[1]?.dimensions.QueueName).toContain(
      'ParlStateful:ExportsOutputFnGetAttBatchDeadLetterQueue',
    );
  });

  it("graphs the API's 4XX, 5XX and latency on its stage", () => {
    const metrics = widgetMetrics(widgets, 'API 4XX / 5XX and latency');
    expect(metrics.map((m) => m.id)).toEqual([
      'AWS/ApiGateway/4XXError',
      'AWS/ApiGateway/5XXError',
      'AWS/ApiGateway/Latency',
    ]);
    for (const m of metrics) expect(Object.keys(m.dimensions)).toEqual(['ApiName', 'Stage']);
  });

  it.each([
    ['Steps per job', [JOB_METRICS.criticalSteps, JOB_METRICS.sequentialSteps, JOB_METRICS.jobsFinished]],
    [
      'Overhead (wall-clock / critical path)',
      [JOB_METRICS.overhead, JOB_METRICS.wallClockMs, JOB_METRICS.criticalPathMs],
    ],
    ['Reward', [JOB_METRICS.rParl, JOB_METRICS.rParallel, JOB_METRICS.rFinish, JOB_METRICS.rPerf]],
    ['Tokens', [JOB_METRICS.inputTokens, JOB_METRICS.cachedInputTokens, JOB_METRICS.outputTokens]],
    ['Cost (USD)', [JOB_METRICS.costUsd]],
    [
      'Provider: calls, 429s, open circuit',
      [PROVIDER_METRICS.modelCalls, JOB_METRICS.rateLimited, PROVIDER_METRICS.circuitOpen],
    ],
  ])('graphs the per-job metrics of "%s" from the functions’ namespace', (title, names) => {
    expect(widgetMetrics(widgets, title)).toEqual(
      names.map((name) => ({ id: `${METRICS_NAMESPACE}/${name}`, dimensions: service })),
    );
  });

  it('shows the state of every alarm of the workflow stack', () => {
    const alarms = Object.keys(workflowTemplate.findResources('AWS::CloudWatch::Alarm'));
    expect([...(propertiesOf(widgets, 'Alarms').alarms as string[])].sort()).toEqual(
      alarms.map((id) => JSON.stringify({ 'Fn::GetAtt': [id, 'Arn'] })).sort(),
    );
  });

  it('gives its console URL as a stack output', () => {
    const { DashboardUrl: output } = workflowTemplate.findOutputs('DashboardUrl');
    const [, parts] = defined(output, 'DashboardUrl output').Value['Fn::Join'] as [string, unknown[]];
    expect(parts.map(text).join('')).toBe(
      `https://${ref('AWS::Region')}.console.aws.amazon.com/cloudwatch/home?region=${ref('AWS::Region')}#dashboards:name=${ref(logicalIdOf(workflow.dashboard.dashboard))}`,
    );
  });
});

describe('the alarm topic', () => {
  const topicId = logicalIdOf(stateful.alerts.topic);

  it('is encrypted with a rotated key that CloudWatch may use, and takes TLS only', () => {
    statefulTemplate.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalIdOf(stateful.alerts.key), 'Arn'] },
    });
    statefulTemplate.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const key = Object.values(statefulTemplate.findResources('AWS::KMS::Key'))[0];
    expect(key?.Properties.KeyPolicy.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        }),
      ]),
    );
    const policy = Object.values(statefulTemplate.findResources('AWS::SNS::TopicPolicy'))[0];
    expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('aws:SecureTransport');
  });

  it('has no subscription unless the alarmEmail context names someone', () => {
    statefulTemplate.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('subscribes each address of the alarmEmail context by e-mail', () => {
    const { stateful: s } = synthesize({ [ALARM_EMAIL_CONTEXT]: 'ops@example.com, oncall@example.org' });
    const template = Template.fromStack(s);
    for (const endpoint of ['ops@example.com', 'oncall@example.org']) {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: endpoint,
        TopicArn: { Ref: logicalIdOf(s.alerts.topic) },
      });
    }
    template.resourceCountIs('AWS::SNS::Subscription', 2);
  });

  it.each([['not-an-address'], ['ops@example.com,'], ['a b@example.com'], [42]])(
    'fails the synth for an alarmEmail of %j, naming the context key',
    (value) => {
      expect(() => alarmEmailsFromContext(value)).toThrow(/^context alarmEmail: /);
      expect(() => synthesize({ [ALARM_EMAIL_CONTEXT]: value })).toThrow(/context alarmEmail/);
    },
  );

  it('is the alarm and OK action of every alarm in both stacks', () => {
    const imported = { 'Fn::ImportValue': expect.stringContaining(`ExportsOutputRef${topicId}`) };
    const cases: [Template, unknown][] = [
      [statefulTemplate, { Ref: topicId }],
      [workflowTemplate, imported],
    ];
    let alarms = 0;
    for (const [template, topic] of cases) {
      for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
        expect(alarm.Properties.AlarmActions).toEqual([topic]);
        expect(alarm.Properties.OKActions).toEqual([topic]);
        alarms += 1;
      }
    }
    // The batch DLQ's, nine service alarms, and the two fan-out alarms.
    expect(alarms).toBe(12);
  });
});

describe('the orchestrator-failure alarms', () => {
  const alarmOf = (construct: { node: { defaultChild?: unknown } }) =>
    workflowTemplate.findResources('AWS::CloudWatch::Alarm')[logicalIdOf(construct as never)]
      ?.Properties as Json;

  it.each([
    ['Plan', () => workflow.alarms.planErrors, () => workflow.plan],
    ['Aggregate', () => workflow.alarms.aggregateErrors, () => workflow.aggregate],
  ])('fire at the first error of the %s function', (_name, alarm, fn) => {
    expect(alarmOf(alarm())).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(fn()) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it.each([
    ['failed', () => workflow.alarms.executionsFailed, 'ExecutionsFailed'],
    ['timed out', () => workflow.alarms.executionsTimedOut, 'ExecutionsTimedOut'],
  ])('fire at the first execution of the job state machine that %s', (_what, alarm, metricName) => {
    expect(alarmOf(alarm())).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: metricName,
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: logicalIdOf(workflow.stateMachine) } }],
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it('fire at the first execution stopped by someone other than its tenant (a cancel is not an alarm)', () => {
    expect(alarmOf(workflow.alarms.executionsAborted)).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: EXECUTION_METRICS.stopped,
      Dimensions: [{ Name: 'service', Value: SERVICE_NAME }],
      Statistic: 'Sum',
      Threshold: 1,
    });
  });

  it('fire at the first status event in the execution-ended DLQ', () => {
    expect(alarmOf(workflow.alarms.executionEndedDlq)).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [logicalIdOf(workflow.executionEndedDlq), 'QueueName'] },
        },
      ],
      Statistic: 'Maximum',
      Threshold: 1,
    });
  });
});

describe('the other alarms', () => {
  const alarms = workflowTemplate.findResources('AWS::CloudWatch::Alarm');
  const props = (construct: { node: { defaultChild?: unknown } }) =>
    alarms[logicalIdOf(construct as never)]?.Properties as Json;

  it('watch the API stage for 5XX answers', () => {
    expect(props(workflow.alarms.api5xx)).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5XXError',
      Dimensions: [
        { Name: 'ApiName', Value: expect.anything() },
        { Name: 'Stage', Value: { Ref: expect.stringMatching(/DeploymentStageprod/) } },
      ],
      Threshold: 1,
    });
  });

  it('watch DynamoDB throttling of the table and its index as one sum', () => {
    const metrics = props(workflow.alarms.tableThrottles).Metrics as Json[];
    expect(metrics.find((m) => m.ReturnData !== false)?.Expression).toMatch(/FILL\(reads, 0\)/);
    const watched = metrics
      .filter((m) => m.MetricStat)
      .map((m) => (m.MetricStat as { Metric: { MetricName: string; Dimensions: { Name: string }[] } }).Metric)
      .map(
        (m) =>
          `${m.MetricName}:${m.Dimensions.map((d) => d.Name)
            .sort()
            .join('+')}`,
      );
    expect(watched.sort()).toEqual([
      'ReadThrottleEvents:GlobalSecondaryIndexName+TableName',
      'ReadThrottleEvents:TableName',
      'WriteThrottleEvents:GlobalSecondaryIndexName+TableName',
      'WriteThrottleEvents:TableName',
    ]);
  });

  it("watch the provider's circuit: the calls the limiter refused while it was open", () => {
    expect(props(workflow.alarms.circuitOpen)).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: PROVIDER_METRICS.circuitOpen,
      Dimensions: [{ Name: 'service', Value: SERVICE_NAME }],
      Threshold: 1,
    });
  });

  it('keep the batch DLQ alarm in the stateful stack, beside its queue', () => {
    statefulTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [logicalIdOf(stateful.batch.deadLetterQueue), 'QueueName'] },
        },
      ],
    });
  });
});
