import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { logicalIdOf, synthesize } from './synth.ts';

const { workflow, workflowTemplate: template } = synthesize();

const functions = [
  { name: 'plan', fn: workflow.plan, timeout: 300, memory: 512 },
  { name: 'subagent', fn: workflow.subagent, timeout: 900, memory: 512 },
  { name: 'aggregate', fn: workflow.aggregate, timeout: 300, memory: 1024 },
];

describe('WorkflowStack functions', () => {
  it('has the three workflow functions, execution-ended, the API and its authorizer, batch and the sweeper', () => {
    const ours = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (fn) => fn.Properties.Environment?.Variables?.PARL_FUNCTION !== undefined,
    );
    expect(ours).toHaveLength(8);
  });

  it('has two functions of CDK’s own besides: the dashboard site’s deployment and its bucket’s auto-delete', () => {
    // 8 of ours + CDK's BucketDeployment handler + the S3 auto-delete-objects provider
    template.resourceCountIs('AWS::Lambda::Function', 10);
    template.resourceCountIs('Custom::CDKBucketDeployment', 1);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
  });

  it.each(functions)(
    'runs $name on nodejs22.x / arm64 with active tracing, $timeout s and $memory MB',
    ({ name, fn, timeout, memory }) => {
      const resource = template.findResources('AWS::Lambda::Function')[logicalIdOf(fn)];
      expect(resource?.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Timeout: timeout,
        MemorySize: memory,
        Handler: 'index.handler',
        Environment: {
          Variables: {
            PARL_FUNCTION: name,
            NODE_OPTIONS: '--enable-source-maps',
            POWERTOOLS_SERVICE_NAME: 'parl-swarm',
            MOONSHOT_BASE_URL: 'https://api.moonshot.ai/v1',
            MOONSHOT_MODEL: 'kimi-k2.5',
            TABLE_NAME: { 'Fn::ImportValue': expect.stringMatching(/^ParlStateful:ExportsOutputRefData/) },
            MOONSHOT_API_KEY_SECRET_ARN: {
              'Fn::ImportValue': expect.stringMatching(/^ParlStateful:ExportsOutputRefMoonshotApiKey/),
            },
          },
        },
      });
    },
  );

  it.each(functions)('logs $name to its own log group kept for one month', ({ fn }) => {
    const resource = template.findResources('AWS::Lambda::Function')[logicalIdOf(fn)];
    const logGroupRef: string = resource?.Properties.LoggingConfig.LogGroup.Ref;
    expect(template.findResources('AWS::Logs::LogGroup')[logGroupRef]?.Properties).toEqual({
      RetentionInDays: 30,
    });
  });

  it.each(functions)('lets $name read and write the table and query gsi1 by name, not index/*', ({ fn }) => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: logicalIdOf(fn.role!) }] },
    });
    const statements = Object.values(policies).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
    );
    const tableArn = { 'Fn::ImportValue': expect.stringMatching(/^ParlStateful:ExportsOutputFnGetAttData/) };
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem']),
        Resource: [tableArn, { 'Fn::Join': ['', [tableArn, '/index/gsi1']] }],
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: expect.arrayContaining(['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']),
      }),
    );
  });

  it('takes the Moonshot endpoint and model from CDK context', () => {
    // Prepare / Act
    const { workflowTemplate } = synthesize({
      moonshotBaseUrl: 'http://127.0.0.1:11434/v1',
      moonshotModel: 'qwen3:8b',
    });
    // Assess: every function that calls the model (execution-ended does not)
    const all = Object.values(workflowTemplate.findResources('AWS::Lambda::Function')).filter((fn) =>
      ['plan', 'subagent', 'aggregate'].includes(fn.Properties.Environment?.Variables.PARL_FUNCTION),
    );
    expect(all).toHaveLength(3);
    for (const fn of all) {
      expect(fn.Properties.Environment?.Variables).toMatchObject({
        MOONSHOT_BASE_URL: 'http://127.0.0.1:11434/v1',
        MOONSHOT_MODEL: 'qwen3:8b',
      });
    }
  });
});

describe('WorkflowStack provider limits', () => {
  it('passes the provider, tier and limits from CDK context to the model-calling functions', () => {
    const { workflowTemplate } = synthesize({
      provider: 'moonshot',
      providerTier: 'moonshot-tier2',
      providerRpm: 450,
    });
    const all = Object.values(workflowTemplate.findResources('AWS::Lambda::Function')).filter((fn) =>
      ['plan', 'subagent', 'aggregate'].includes(fn.Properties.Environment?.Variables.PARL_FUNCTION),
    );
    expect(all).toHaveLength(3);
    for (const fn of all) {
      expect(fn.Properties.Environment?.Variables).toMatchObject({
        PARL_PROVIDER: 'moonshot',
        PARL_PROVIDER_TIER: 'moonshot-tier2',
        PARL_PROVIDER_RPM: '450',
      });
    }
  });

  it('fails the synth naming the context key, its variable and the allowed values of a bad value', () => {
    expect(() => synthesize({ providerTier: 'gold' })).toThrow(
      /^cdk context 'providerTier' = "gold" is not allowed: PARL_PROVIDER_TIER must be one of moonshot-tier0/,
    );
  });
});

describe('WorkflowStack state machine', () => {
  it('is a STANDARD machine with X-Ray tracing and ALL-level logging', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: true,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
      },
    });
  });

  it('may invoke the three functions and nothing else', () => {
    const role = logicalIdOf(workflow.stateMachine.role);
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: role }] } });
    const invoked = Object.values(policies)
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>)
      .filter((statement) => statement.Action === 'lambda:InvokeFunction')
      .flatMap((statement) => statement.Resource as Array<{ 'Fn::GetAtt'?: [string, string] }>)
      .flatMap((resource) => resource['Fn::GetAtt']?.[0] ?? []);
    expect(invoked.sort()).toEqual(functions.map(({ fn }) => logicalIdOf(fn)).sort());
  });
});

describe('WorkflowStack execution-ended path', () => {
  const fnId = logicalIdOf(workflow.executionEnded);
  const ruleId = logicalIdOf(workflow.executionEndedRule);
  const dlqArn = { 'Fn::GetAtt': [logicalIdOf(workflow.executionEndedDlq), 'Arn'] };

  it('runs execution-ended for 60 s with the table and without the provider key', () => {
    const resource = template.findResources('AWS::Lambda::Function')[fnId];
    expect(resource?.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Timeout: 60,
      Handler: 'index.handler',
      Environment: {
        Variables: {
          PARL_FUNCTION: 'execution-ended',
          TABLE_NAME: { 'Fn::ImportValue': expect.stringMatching(/^ParlStateful:ExportsOutputRefData/) },
        },
      },
    });
    expect(resource?.Properties.Environment.Variables).not.toHaveProperty('MOONSHOT_API_KEY_SECRET_ARN');
  });

  it('lets execution-ended read and write the table items, and nothing of the secret', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: logicalIdOf(workflow.executionEnded.role!) }] },
    });
    const statements = Object.values(policies).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']),
        Resource: { 'Fn::ImportValue': expect.stringMatching(/^ParlStateful:ExportsOutputFnGetAttData/) },
      }),
    );
    expect(JSON.stringify(statements)).not.toContain('secretsmanager:');
  });

  it("matches the state machine's FAILED, TIMED_OUT and ABORTED status changes", () => {
    template.resourceCountIs('AWS::Events::Rule', 2);
    expect(template.findResources('AWS::Events::Rule')[ruleId]?.Properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: {
        status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
        stateMachineArn: [{ Ref: logicalIdOf(workflow.stateMachine) }],
      },
    });
  });

  it('targets execution-ended with bounded retries and a dead-letter queue', () => {
    expect(template.findResources('AWS::Events::Rule')[ruleId]?.Properties.Targets).toEqual([
      {
        Id: expect.any(String),
        Arn: { 'Fn::GetAtt': [fnId, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 6 * 3600 },
        DeadLetterConfig: { Arn: dlqArn },
      },
    ]);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
  });

  it('sends events whose handling keeps failing to the same dead-letter queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: dlqArn } },
    });
  });

  it('keeps the dead-letter queue encrypted, TLS-only and for 14 days, writable by the rule', () => {
    // Prepare
    const dlqId = logicalIdOf(workflow.executionEndedDlq);
    // Assess
    expect(template.findResources('AWS::SQS::Queue')[dlqId]?.Properties).toEqual({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    const [policy] = Object.values(
      template.findResources('AWS::SQS::QueuePolicy', { Properties: { Queues: [{ Ref: dlqId }] } }),
    );
    expect(policy?.Properties.PolicyDocument.Statement).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
        expect.objectContaining({
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
        }),
      ]),
    );
  });
});

describe('WorkflowStack reservation sweeper', () => {
  const fnId = logicalIdOf(workflow.sweeper.fn);

  it('runs the sweeper function every 5 minutes from an EventBridge schedule', () => {
    const rule = template.findResources('AWS::Events::Rule')[logicalIdOf(workflow.sweeper.rule)];
    expect(rule?.Properties).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [expect.objectContaining({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: 'events.amazonaws.com',
    });
  });

  it('runs the sweeper handler with the table and its index, without the provider key', () => {
    const resource = template.findResources('AWS::Lambda::Function')[fnId];
    expect(resource?.Properties.Environment.Variables).toMatchObject({ PARL_FUNCTION: 'sweeper' });
    expect(resource?.Properties.Environment.Variables).not.toHaveProperty('MOONSHOT_API_KEY_SECRET_ARN');
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: logicalIdOf(workflow.sweeper.fn.role!) }] },
    });
    const statements = Object.values(policies).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
    );
    const tableArn = { 'Fn::ImportValue': expect.stringMatching(/^ParlStateful:ExportsOutputFnGetAttData/) };
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: expect.arrayContaining(['dynamodb:Query', 'dynamodb:UpdateItem']),
        Resource: [tableArn, { 'Fn::Join': ['', [tableArn, '/index/gsi1']] }],
      }),
    );
    expect(JSON.stringify(statements)).not.toContain('secretsmanager:');
  });
});
