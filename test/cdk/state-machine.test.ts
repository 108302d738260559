import validator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { allStates, localFunctionArn, stateMachineAsl, taskFunctions } from '#cdk/asl';
import { JOB_FAILED, MAP_RESULTS_PREFIX, MAX_STAGES, STATE_NAMES } from '#cdk/state-machine';
import { logicalIdOf, synthesize } from './synth.ts';

const { workflow, workflowTemplate } = synthesize();
const template = workflowTemplate.toJSON();
const asl = stateMachineAsl(template);
const states = Object.fromEntries(allStates(asl));
const arn = {
  plan: localFunctionArn(logicalIdOf(workflow.plan)),
  subagent: localFunctionArn(logicalIdOf(workflow.subagent)),
  aggregate: localFunctionArn(logicalIdOf(workflow.aggregate)),
};
const itemSelector = {
  'jobId.$': '$.jobId',
  'tenantId.$': '$.tenantId',
  'stage.$': '$.stage',
  'agentId.$': '$$.Map.Item.Value.agentId',
  'subtaskIds.$': '$$.Map.Item.Value.subtaskIds',
};
/**
 * The Distributed Map's items also carry their subtasks (the plan writes them into the S3 items)
 * and the plan's settings of the job (from the Map's input).
 */
const distributedItemSelector = {
  ...itemSelector,
  'subtasks.$': '$$.Map.Item.Value.subtasks',
  'reservation.$': '$$.Map.Item.Value.reservation',
  'settings.$': '$.settings',
};
const tasks = [
  STATE_NAMES.plan,
  STATE_NAMES.runSubagent,
  STATE_NAMES.runSubagentDistributed,
  STATE_NAMES.subagentFailed,
  STATE_NAMES.subagentFailedDistributed,
  STATE_NAMES.aggregate,
  STATE_NAMES.finalizeFailure,
];

describe('the workflow definition', () => {
  it('is valid ASL', () => {
    // Act
    const { isValid, errorsText } = validator(structuredClone(asl)); // the validator annotates its input
    // Assess
    expect(isValid, errorsText('\n')).toBe(true);
  });

  it('has exactly the named states, each name unique across the machine', () => {
    const names = allStates(asl).map(([name]) => name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.sort()).toEqual(Object.values(STATE_NAMES).sort());
  });

  it('uses only what the local runtime runs: JSONPath, no intrinsic functions, no $$.State', () => {
    const text = JSON.stringify(asl);
    expect(text).not.toMatch(/States\.[A-Za-z]+\(/);
    expect(text).not.toContain('$$.State');
    expect(text).not.toContain('JSONata');
    expect(new Set(allStates(asl).map(([, state]) => state.Type))).toEqual(
      new Set(['Task', 'Choice', 'Map', 'Pass', 'Succeed', 'Fail']),
    );
  });

  it('starts with Plan, whose output replaces the state, then chooses the fan-out', () => {
    expect(asl.StartAt).toBe(STATE_NAMES.plan);
    expect(asl.TimeoutSeconds).toBe(24 * 3600);
    expect(states.Plan).toMatchObject({ Type: 'Task', Resource: arn.plan, Next: 'ChooseFanOut' });
    expect(states.Plan).not.toHaveProperty('Parameters');
    expect(states.Plan).not.toHaveProperty('ResultPath');
    expect(states.ChooseFanOut).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.mapMode', StringEquals: 'DISTRIBUTED', Next: 'SubagentsDistributed' }],
      Default: 'Subagents',
    });
  });

  it('runs the sub-agents in an inline Map bounded by $.maxConcurrency, which returns nothing', () => {
    expect(states.Subagents).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.agents',
      MaxConcurrencyPath: '$.maxConcurrency',
      ItemSelector: itemSelector,
      ResultPath: null,
      Next: 'Aggregate',
      ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'RunSubagent' },
    });
  });

  it('runs the sub-agents in a Distributed Map of STANDARD child executions above the inline limits, reading the plan from S3', () => {
    expect(states.SubagentsDistributed).not.toHaveProperty('ItemsPath');
    expect(states.SubagentsDistributed).toMatchObject({
      Type: 'Map',
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Bucket.$': '$.items.bucket', 'Key.$': '$.items.key' },
      },
      MaxConcurrencyPath: '$.maxConcurrency',
      ItemSelector: distributedItemSelector,
      // Nothing returns into the state; the child results go to the items bucket.
      ResultPath: null,
      ResultWriter: {
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { 'Bucket.$': '$.items.bucket', Prefix: MAP_RESULTS_PREFIX },
      },
      Label: 'Subagents',
      Next: 'Aggregate',
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'RunSubagentD',
      },
    });
  });

  it.each([
    ['RunSubagent', 'SubagentFailed', 'SubagentUnrecorded'],
    ['RunSubagentD', 'SubagentFailedD', 'SubagentUnrecordedD'],
  ])(
    'invokes the sub-agent in %s, returns nothing, and records its failure in %s',
    (run, failed, unrecorded) => {
      expect(states[run]).toMatchObject({
        Type: 'Task',
        Resource: arn.subagent,
        TimeoutSeconds: 900,
        ResultPath: null,
        End: true,
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: failed }],
      });
      // The caught cause goes to the recording task only, never on in the state.
      expect(states[failed]).toMatchObject({
        Type: 'Task',
        Resource: arn.subagent,
        Parameters: {
          'jobId.$': '$.jobId',
          'tenantId.$': '$.tenantId',
          'stage.$': '$.stage',
          'agentId.$': '$.agentId',
          'subtaskIds.$': '$.subtaskIds',
          failure: { 'error.$': '$.error.Error', 'cause.$': '$.error.Cause' },
        },
        ResultPath: null,
        End: true,
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: unrecorded }],
      });
      expect(states[unrecorded]).toMatchObject({ Type: 'Pass', ResultPath: null, End: true });
    },
  );

  it('aggregates from DynamoDB (no Map output in its input), then branches on the job status', () => {
    expect(states.Aggregate?.Parameters).toEqual({
      'jobId.$': '$.jobId',
      'tenantId.$': '$.tenantId',
      'stage.$': '$.stage',
    });
    expect(states.Aggregate).toMatchObject({
      Type: 'Task',
      Resource: arn.aggregate,
      Parameters: {
        'jobId.$': '$.jobId',
        'tenantId.$': '$.tenantId',
        'stage.$': '$.stage',
      },
      Next: 'JobOutcome',
    });
    expect(states.JobOutcome).toEqual({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.status', StringEquals: 'NEXT_STAGE' },
            { Variable: '$.stage', NumericLessThanEquals: MAX_STAGES },
          ],
          Next: 'ChooseFanOut',
        },
        { Variable: '$.status', StringEquals: 'SUCCEEDED', Next: 'JobSucceeded' },
      ],
      Default: 'JobFailed',
    });
    expect(states.JobSucceeded).toEqual({ Type: 'Succeed' });
    expect(states.JobFailed).toEqual({ Type: 'Fail', Error: JOB_FAILED.error, Cause: JOB_FAILED.cause });
  });

  it.each(['Plan', 'Subagents', 'SubagentsDistributed', 'Aggregate'])(
    'routes any failure of %s to FinalizeFailure under $.failure',
    (name) => {
      expect(states[name]?.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'FinalizeFailure' },
      ]);
    },
  );

  it('stores the failed job through the aggregate function, then fails', () => {
    expect(states.FinalizeFailure).toMatchObject({
      Type: 'Task',
      Resource: arn.aggregate,
      Parameters: { 'jobId.$': '$.jobId', 'tenantId.$': '$.tenantId', 'failure.$': '$.failure' },
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'JobFailed' }],
      Next: 'JobFailed',
    });
  });

  it.each(tasks)(
    'retries %s on Lambda service errors only: full jitter, 2 attempts, 1 s × 2 up to 20 s',
    (name) => {
      expect(states[name]?.Retry).toEqual([
        {
          ErrorEquals: [
            'Lambda.ServiceException',
            'Lambda.AWSLambdaException',
            'Lambda.SdkClientException',
            'Lambda.TooManyRequestsException',
          ],
          IntervalSeconds: 1,
          BackoffRate: 2,
          MaxAttempts: 2,
          MaxDelaySeconds: 20,
          JitterStrategy: 'FULL',
        },
      ]);
    },
  );

  it('binds each task to its handler through PARL_FUNCTION', () => {
    expect(taskFunctions(template, asl)).toEqual({
      Plan: 'plan',
      RunSubagent: 'subagent',
      RunSubagentD: 'subagent',
      SubagentFailed: 'subagent',
      SubagentFailedD: 'subagent',
      Aggregate: 'aggregate',
      FinalizeFailure: 'aggregate',
    });
  });
});
