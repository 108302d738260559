import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { logicalIdOf, synthesize } from './synth.ts';

const { workflow, workflowTemplate: template } = synthesize();

const functions = [
  { name: 'plan', fn: workflow.plan, timeout: 60, memory: 512 },
  { name: 'subagent', fn: workflow.subagent, timeout: 900, memory: 512 },
  { name: 'aggregate', fn: workflow.aggregate, timeout: 120, memory: 1024 },
];

describe('WorkflowStack functions', () => {
  it('has exactly the three handler functions', () => {
    template.resourceCountIs('AWS::Lambda::Function', 3);
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
    // Assess
    const all = Object.values(workflowTemplate.findResources('AWS::Lambda::Function'));
    expect(all).toHaveLength(3);
    for (const fn of all) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        MOONSHOT_BASE_URL: 'http://127.0.0.1:11434/v1',
        MOONSHOT_MODEL: 'qwen3:8b',
      });
    }
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
