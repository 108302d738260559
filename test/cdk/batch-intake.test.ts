import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  BATCH_MAX_RECEIVE_COUNT,
  BATCH_VISIBILITY_FACTOR,
  DEFAULT_BATCH_SCHEDULE,
} from '#cdk/constructs/batch-intake';
import { logicalIdOf, synthesize } from './synth.ts';

const { stateful, workflow, statefulTemplate, workflowTemplate } = synthesize();
const queueId = logicalIdOf(stateful.batch.queue);
const dlqId = logicalIdOf(stateful.batch.deadLetterQueue);
const bucketId = logicalIdOf(stateful.batch.bucket);
const batchFn = workflow.batch;
if (!batchFn) throw new Error('the workflow stack has no batch function');
const batchFnId = logicalIdOf(batchFn);

describe('BatchIntake queues', () => {
  it('redrives the batch queue to its DLQ after three receives', () => {
    // Assess
    expect(BATCH_MAX_RECEIVE_COUNT).toBe(3);
    statefulTemplate.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 3 },
      SqsManagedSseEnabled: true,
    });
    const dlq = statefulTemplate.findResources('AWS::SQS::Queue')[dlqId];
    expect(dlq?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
  });

  it.each([
    ['batch queue', () => queueId],
    ['dead-letter queue', () => dlqId],
  ])('denies every request to the %s that is not over TLS', (_name, id) => {
    statefulTemplate.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: id() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('keeps a message invisible for at least six times the batch function’s timeout', () => {
    // Prepare
    const queue = statefulTemplate.findResources('AWS::SQS::Queue')[queueId];
    const fn = workflowTemplate.findResources('AWS::Lambda::Function')[batchFnId];
    // Assess
    const timeout = Number(fn?.Properties.Timeout);
    expect(timeout).toBeGreaterThan(0);
    expect(Number(queue?.Properties.VisibilityTimeout)).toBeGreaterThanOrEqual(
      BATCH_VISIBILITY_FACTOR * timeout,
    );
  });

  it('raises an alarm as soon as one message is in the DLQ', () => {
    statefulTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('BatchIntake uploads bucket', () => {
  it('blocks public access, encrypts and refuses requests without TLS', () => {
    statefulTemplate.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'uploads/' }),
    });
    statefulTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('sends object-created events under incoming/ to the batch queue, which lets S3 send them', () => {
    statefulTemplate.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: bucketId },
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'incoming/' }] } },
            QueueArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
          },
        ],
      },
    });
    statefulTemplate.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [bucketId, 'Arn'] } } },
          }),
        ]),
      },
    });
  });
});

describe('the batch function', () => {
  it('consumes the batch queue in batches of 10, reporting failures per record', () => {
    workflowTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: batchFnId },
      EventSourceArn: { 'Fn::ImportValue': Match.stringLikeRegexp(`${queueId}Arn`) },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('may start executions, read uploads under incoming/ only, and has no provider key', () => {
    // Prepare
    const fn = workflowTemplate.findResources('AWS::Lambda::Function')[batchFnId];
    const readUploads = statefulTemplate.findResources('AWS::IAM::ManagedPolicy');
    // Assess
    expect(fn?.Properties.Environment.Variables).toMatchObject({
      PARL_FUNCTION: 'batch',
      STATE_MACHINE_ARN: { Ref: logicalIdOf(workflow.stateMachine) },
    });
    expect(fn?.Properties.Environment.Variables.MOONSHOT_API_KEY_SECRET_ARN).toBeUndefined();
    workflowTemplate.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'states:StartExecution',
            Resource: { Ref: logicalIdOf(workflow.stateMachine) },
          }),
        ]),
      },
    });
    expect(Object.values(readUploads).map((p) => p.Properties.PolicyDocument.Statement)).toContainEqual([
      {
        Action: 's3:GetObject',
        Effect: 'Allow',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/incoming/*']] },
      },
    ]);
  });
});

describe('the batch function environment', () => {
  it('has the table (tenants, budgets, usage) and the state machine, no tenant list and no provider key', () => {
    // Prepare / Act
    const fn = workflowTemplate.findResources('AWS::Lambda::Function')[batchFnId];
    const variables = fn?.Properties.Environment.Variables as Record<string, unknown>;
    // Assess
    expect(variables).toMatchObject({ PARL_FUNCTION: 'batch' });
    expect(Object.keys(variables)).toEqual(expect.arrayContaining(['TABLE_NAME', 'STATE_MACHINE_ARN']));
    expect(Object.keys(variables).filter((k) => /TENANTS|MOONSHOT/.test(k))).toEqual([]);
  });
});

describe('the recurring job', () => {
  it('is absent unless configured', () => {
    statefulTemplate.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('enqueues the configured job on schedule, keyed by the event’s time', () => {
    // Prepare / Act
    const { statefulTemplate: t, stateful: s } = synthesize({
      batchSchedule: { tenantId: 'acme', request: { task: 'Check all installations' } },
    });
    // Assess
    const rules = Object.values(t.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    const props = rules[0]?.Properties;
    expect(props.ScheduleExpression).toBe(DEFAULT_BATCH_SCHEDULE);
    expect(props.Targets[0].Arn).toEqual({ 'Fn::GetAtt': [logicalIdOf(s.batch.queue), 'Arn'] });
    expect(props.Targets[0].InputTransformer.InputPathsMap).toEqual({ time: '$.time' });
    expect(JSON.parse(props.Targets[0].InputTransformer.InputTemplate)).toEqual({
      tenantId: 'acme',
      request: { task: 'Check all installations' },
      idempotencyKey: 'schedule:nightly:<time>',
    });
  });

  it.each([
    [{ tenantId: 'a b', request: { task: 'x' } }, 'batchSchedule.tenantId'],
    [{ tenantId: 'acme', request: { task: '' } }, 'batchSchedule.request: task'],
    [{ tenantId: 'acme', request: { task: 'x' }, schedule: 'daily' }, 'batchSchedule.schedule'],
  ])('fails the synth naming the field for %j', (batchSchedule, field) => {
    expect(() => synthesize({ batchSchedule })).toThrow(field);
  });
});

describe('the Distributed Map item lists', () => {
  const items = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/items/*']] };
  const policyWith = (action: string) =>
    Object.entries(statefulTemplate.findResources('AWS::IAM::ManagedPolicy')).find(
      ([, p]) =>
        JSON.stringify(p.Properties.PolicyDocument.Statement) ===
        JSON.stringify([{ Action: action, Effect: 'Allow', Resource: items }]),
    )?.[0];
  /** The stateful stack's export of a managed policy, as the workflow stack imports it. */
  const usesPolicy = (managedPolicyArns: unknown, policyId: string) =>
    JSON.stringify(managedPolicyArns).includes(`Ref${policyId}`);

  it.each([
    ['plan', () => workflow.plan],
    ['aggregate (a next stage)', () => workflow.aggregate],
  ])('lets the %s function write them under items/ and names the bucket in ITEMS_BUCKET', (_name, fnOf) => {
    // Prepare
    const writeId = policyWith('s3:PutObject');
    const fn = workflowTemplate.findResources('AWS::Lambda::Function')[logicalIdOf(fnOf())];
    const roleId = fn?.Properties.Role['Fn::GetAtt'][0] as string;
    const role = workflowTemplate.findResources('AWS::IAM::Role')[roleId];
    // Assess
    expect(writeId).toBeDefined();
    expect(Object.keys(fn?.Properties.Environment.Variables)).toContain('ITEMS_BUCKET');
    expect(usesPolicy(role?.Properties.ManagedPolicyArns, writeId!)).toBe(true);
  });

  it('lets the state machine’s ItemReader read them, and nothing else of the bucket', () => {
    // Prepare
    const readId = policyWith('s3:GetObject');
    const machine = workflowTemplate.findResources('AWS::StepFunctions::StateMachine')[
      logicalIdOf(workflow.stateMachine)
    ];
    const roleId = machine?.Properties.RoleArn['Fn::GetAtt'][0] as string;
    const role = workflowTemplate.findResources('AWS::IAM::Role')[roleId];
    // Assess
    expect(readId).toBeDefined();
    expect(usesPolicy(role?.Properties.ManagedPolicyArns, readId!)).toBe(true);
    expect(JSON.stringify(workflowTemplate.toJSON())).not.toMatch(
      /"s3:GetObject","Effect":"Allow","Resource":"\*"/,
    );
  });

  it('expires them after 7 days', () => {
    statefulTemplate.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'items/', ExpirationInDays: 7, Status: 'Enabled' }),
        ]),
      },
    });
  });
});
