/**
 * THE definition of the job workflow. Both the cloud (Step Functions) and the local runtime
 * (aws-local-stepfunctions over the synthesized template) run what this module builds; there is no
 * second copy of the workflow anywhere.
 *
 * The ASL stays within what the local runtime executes: JSONPath only; Task, Map, Choice, Pass,
 * Succeed and Fail states; no intrinsic functions and no `$$.State.*` context fields
 * (`$$.Map.Item.*` and `$$.Execution.*` are fine).
 *
 * Contract with the handlers (execution input `{ jobId, tenantId }`):
 * - `Plan` (plan) receives the state and returns
 *   `{ jobId, tenantId, stage, maxConcurrency, mapMode: 'INLINE', agents: [{ agentId, subtaskIds }] }`, or,
 *   above the inline Map's 40 concurrent iterations or 250 items (`#shared/domain/fan-out-limits`),
 *   `{ jobId, tenantId, stage, maxConcurrency, mapMode: 'DISTRIBUTED', items: { bucket, key } }`: the
 *   same assignments as a JSON array in S3, which the Distributed Map reads with its ItemReader (the
 *   local runtime rewrites that into a reader Task over fauxqs S3: local/item-reader.ts).
 * - `RunSubagent` (subagent) receives `{ jobId, tenantId, stage, agentId, subtaskIds }` per agent (in
 *   the Distributed Map also `subtasks`, the subtasks themselves, when the plan put them in the item,
 *   and `reservation`, the limiter's lease the plan took for its first call, or null) and
 *   stores its outcome in DynamoDB; a sub-agent that still fails (its model calls were retried by the
 *   client) is caught by `SubagentFailed` (subagent again, with `failure: { error, cause }`), which
 *   records it with a short reason unless it recorded itself (a tolerated failure: it lowers r_finish,
 *   it does not fail the job; no cause or stack trace travels on in the state).
 * - Neither Map returns anything (ResultPath null; the Distributed Map writes its child results to
 *   the items bucket with a ResultWriter), so no number of sub-agents reaches the 256 KiB payload limit.
 * - `Aggregate` (aggregate) receives `{ jobId, tenantId, stage }`, reads the outcomes from DynamoDB, and returns
 *   `{ jobId, status: 'SUCCEEDED' | 'FAILED', error? }`, or for a multi-stage job that goes on the
 *   next stage's Map input with `status: 'NEXT_STAGE'`, which `JobOutcome` sends back to `ChooseFanOut`
 *   (up to stage MAX_STAGES).
 * - `FinalizeFailure` (aggregate) receives `{ jobId, tenantId, failure: { Error, Cause } }` and stores
 *   the job as FAILED with the reason and whatever steps exist.
 */
import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import {
  type CatchProps,
  Chain,
  Choice,
  Condition,
  DistributedMap,
  Errors,
  Fail,
  type IChainable,
  JitterType,
  JsonPath,
  Map as MapState,
  Pass,
  ResultWriterV2,
  type RetryProps,
  S3JsonItemReader,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { REQUEST_LIMITS } from '#shared/domain/request';
import { FUNCTION_TIMEOUTS } from './cloud-settings.ts';

/** The names of the states, unique across the whole machine (map item processors included). */
export const STATE_NAMES = {
  plan: 'Plan',
  chooseFanOut: 'ChooseFanOut',
  subagents: 'Subagents',
  subagentsDistributed: 'SubagentsDistributed',
  runSubagent: 'RunSubagent',
  subagentFailed: 'SubagentFailed',
  subagentUnrecorded: 'SubagentUnrecorded',
  runSubagentDistributed: 'RunSubagentD',
  subagentFailedDistributed: 'SubagentFailedD',
  subagentUnrecordedDistributed: 'SubagentUnrecordedD',
  aggregate: 'Aggregate',
  jobOutcome: 'JobOutcome',
  jobSucceeded: 'JobSucceeded',
  jobFailed: 'JobFailed',
  finalizeFailure: 'FinalizeFailure',
} as const;

/** A state name of the workflow. */
export type StateName = (typeof STATE_NAMES)[keyof typeof STATE_NAMES];

/** How the plan asks the sub-agents to fan out (`$.mapMode`). */
export const MAP_MODES = { inline: 'INLINE', distributed: 'DISTRIBUTED' } as const;

/** Aggregate's status when a multi-stage job goes on to another stage. */
export const NEXT_STAGE_STATUS = 'NEXT_STAGE';

/** The most stages a job runs; JobOutcome loops back to the Map only up to this stage. */
export const MAX_STAGES = REQUEST_LIMITS.maxStages;

/** The label of the Distributed Map's map runs. */
export const DISTRIBUTED_MAP_LABEL = 'Subagents';

/** Where the Distributed Map's ResultWriter puts its child results, in the items bucket. */
export const MAP_RESULTS_PREFIX = 'items/map-results';

/** The error and cause of the terminal `JobFailed` state. */
export const JOB_FAILED = {
  error: 'JobFailed',
  cause: 'The job failed; its stored record has the reason',
} as const;

/**
 * Errors every Lambda task retries: Lambda service faults only. Model calls are retried at one
 * layer, the client (`LimitedLlm`: shared limiter, cooldown, backoff with full jitter); retrying a
 * whole sub-agent here on top would multiply the attempts and repeat model calls already paid for.
 */
export const RETRYABLE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

/** The one retry policy of every Lambda task (full jitter spreads retries of a wide fan-out). */
export const LAMBDA_RETRY: RetryProps = {
  errors: [...RETRYABLE_ERRORS],
  interval: Duration.seconds(1),
  backoffRate: 2,
  maxAttempts: 2,
  maxDelay: Duration.seconds(20),
  jitterStrategy: JitterType.FULL,
};

/** The sub-agent's task timeout; matches the sub-agent function's own timeout. */
export const SUBAGENT_TASK_TIMEOUT = FUNCTION_TIMEOUTS.subagent;

/** The functions the workflow invokes. */
export interface WorkflowFunctions {
  readonly plan: IFunction;
  readonly subagent: IFunction;
  readonly aggregate: IFunction;
}

/**
 * Builds the workflow: Plan → ChooseFanOut → Subagents | SubagentsDistributed → Aggregate →
 * JobOutcome (→ ChooseFanOut again for a job's next stage), with every failure routed through FinalizeFailure so the job is stored as FAILED.
 *
 * The states are created under a `Definition` construct inside `scope`, so their ids never clash
 * with the stack's other constructs.
 *
 * @example
 * new StateMachine(this, 'Workflow', {
 *   definitionBody: DefinitionBody.fromChainable(buildWorkflowDefinition(this, { plan, subagent, aggregate })),
 * });
 */
export function buildWorkflowDefinition(scope: Construct, functions: WorkflowFunctions): IChainable {
  const s = new Construct(scope, 'Definition');
  // The Distributed Map's ResultWriter is the V2 one (a bucket and a prefix) whatever the app's flags.
  s.node.setContext(STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2, true);
  const toFinalize = { errors: [Errors.ALL], resultPath: '$.failure' };

  const jobFailed = Fail.jsonPath(s, STATE_NAMES.jobFailed, JOB_FAILED);
  const jobSucceeded = Succeed.jsonPath(s, STATE_NAMES.jobSucceeded);

  const finalizeFailure = invokeTask(s, STATE_NAMES.finalizeFailure, functions.aggregate, {
    comment: 'Stores the job as FAILED with the reason and whatever steps exist',
    payload: TaskInput.fromObject({
      jobId: JsonPath.stringAt('$.jobId'),
      tenantId: JsonPath.stringAt('$.tenantId'),
      failure: JsonPath.objectAt('$.failure'),
    }),
  });
  finalizeFailure.addCatch(jobFailed, { errors: [Errors.ALL] });
  finalizeFailure.next(jobFailed);

  const plan = invokeTask(s, STATE_NAMES.plan, functions.plan, {
    comment: 'Decomposes the job into agents and picks concurrency and map mode',
  });
  plan.addCatch(finalizeFailure, toFinalize);

  const { subagents, subagentsDistributed } = fanOutMaps(s, functions, finalizeFailure, toFinalize);

  const aggregate = invokeTask(s, STATE_NAMES.aggregate, functions.aggregate, {
    comment: 'Computes the measures and reward, synthesizes the answer, stores the result',
    payload: TaskInput.fromObject({
      jobId: JsonPath.stringAt('$.jobId'),
      tenantId: JsonPath.stringAt('$.tenantId'),
      stage: JsonPath.numberAt('$.stage'),
    }),
  });
  aggregate.addCatch(finalizeFailure, toFinalize);

  const chooseFanOut = Choice.jsonPath(s, STATE_NAMES.chooseFanOut)
    .when(Condition.stringEquals('$.mapMode', MAP_MODES.distributed), subagentsDistributed)
    .otherwise(subagents);

  // A multi-stage job: Aggregate returned the next stage's Map input; loop back, within the bound.
  const jobOutcome = Choice.jsonPath(s, STATE_NAMES.jobOutcome)
    .when(
      Condition.and(
        Condition.stringEquals('$.status', NEXT_STAGE_STATUS),
        Condition.numberLessThanEquals('$.stage', MAX_STAGES),
      ),
      chooseFanOut,
    )
    .when(Condition.stringEquals('$.status', 'SUCCEEDED'), jobSucceeded)
    .otherwise(jobFailed);

  subagents.next(aggregate);
  subagentsDistributed.next(aggregate);
  aggregate.next(jobOutcome);
  return Chain.start(plan).next(chooseFanOut);
}

/**
 * The two Map states over the plan's assignments: inline (`$.agents` in the state) and distributed
 * (the item list in S3); the same item shape and catch, and neither returns anything (ResultPath
 * null): the outcomes are in DynamoDB. The Distributed Map's child results go to S3 (ResultWriter),
 * never into the state.
 */
function fanOutMaps(
  s: Construct,
  functions: WorkflowFunctions,
  finalizeFailure: IChainable,
  toFinalize: CatchProps,
): { subagents: MapState; subagentsDistributed: DistributedMap } {
  const fanOut = {
    maxConcurrencyPath: '$.maxConcurrency',
    itemSelector: {
      jobId: JsonPath.stringAt('$.jobId'),
      tenantId: JsonPath.stringAt('$.tenantId'),
      stage: JsonPath.numberAt('$.stage'),
      agentId: JsonPath.stringAt('$$.Map.Item.Value.agentId'),
      subtaskIds: JsonPath.listAt('$$.Map.Item.Value.subtaskIds'),
    },
    resultPath: JsonPath.DISCARD,
  };
  const subagents = MapState.jsonPath(s, STATE_NAMES.subagents, {
    ...fanOut,
    itemsPath: '$.agents',
    comment: 'Runs the sub-agents in parallel (inline, up to 40 at once); outcomes stay in DynamoDB',
  });
  subagents.itemProcessor(subagentProcessor(s, functions.subagent, ''));
  subagents.addCatch(finalizeFailure, toFinalize);

  const subagentsDistributed = DistributedMap.jsonPath(s, STATE_NAMES.subagentsDistributed, {
    ...fanOut,
    // Its items carry their subtasks (an empty list when the plan left them out) and the plan's
    // settings of the job: a sub-agent with both reads nothing before its first call.
    itemSelector: {
      ...fanOut.itemSelector,
      subtasks: JsonPath.listAt('$$.Map.Item.Value.subtasks'),
      // The limiter's lease the plan took for the sub-agent's first call (null when none).
      reservation: JsonPath.objectAt('$$.Map.Item.Value.reservation'),
      settings: JsonPath.objectAt('$.settings'),
    },
    // The plan's item list in S3: no state payload limit on the number of sub-agents.
    itemReader: new S3JsonItemReader({
      bucketNamePath: JsonPath.stringAt('$.items.bucket'),
      key: JsonPath.stringAt('$.items.key'),
    }),
    // Its child results go to the same bucket (never into the state); the workflow reads none of them.
    resultWriterV2: new ResultWriterV2({
      bucketNamePath: JsonPath.stringAt('$.items.bucket'),
      prefix: MAP_RESULTS_PREFIX,
    }),
    comment: 'Runs the sub-agents as child executions (above the inline limits); outcomes stay in DynamoDB',
    mapExecutionType: StateMachineType.STANDARD,
    label: DISTRIBUTED_MAP_LABEL,
  });
  subagentsDistributed.itemProcessor(subagentProcessor(s, functions.subagent, 'D'));
  subagentsDistributed.addCatch(finalizeFailure, toFinalize);
  return { subagents, subagentsDistributed };
}

/**
 * The item processor of both maps: one sub-agent. One that fails after retries is caught and
 * recorded FAILED with a short reason by `SubagentFailed` (unless it recorded itself), so the Map
 * goes on and no Lambda cause travels on; should that record fail too, `SubagentUnrecorded` ends
 * the item (the sub-agent then counts as spawned and not completed). `suffix` keeps the state
 * names unique.
 */
function subagentProcessor(scope: Construct, subagent: IFunction, suffix: '' | 'D'): IChainable {
  const unrecorded = Pass.jsonPath(scope, `${STATE_NAMES.subagentUnrecorded}${suffix}`, {
    comment: 'The failure could not be recorded either; the sub-agent counts as not completed',
    resultPath: JsonPath.DISCARD,
  });
  const recordFailure = invokeTask(scope, `${STATE_NAMES.subagentFailed}${suffix}`, subagent, {
    comment: 'Records the failed sub-agent with a short reason (unless it recorded itself)',
    payload: TaskInput.fromObject({
      jobId: JsonPath.stringAt('$.jobId'),
      tenantId: JsonPath.stringAt('$.tenantId'),
      stage: JsonPath.numberAt('$.stage'),
      agentId: JsonPath.stringAt('$.agentId'),
      subtaskIds: JsonPath.listAt('$.subtaskIds'),
      failure: {
        error: JsonPath.stringAt('$.error.Error'),
        cause: JsonPath.stringAt('$.error.Cause'),
      },
    }),
    resultPath: JsonPath.DISCARD,
  });
  recordFailure.addCatch(unrecorded, { errors: [Errors.ALL], resultPath: JsonPath.DISCARD });
  const run = invokeTask(scope, `${STATE_NAMES.runSubagent}${suffix}`, subagent, {
    comment: 'One sub-agent works through its subtasks',
    taskTimeout: Timeout.duration(SUBAGENT_TASK_TIMEOUT),
    resultPath: JsonPath.DISCARD,
  });
  run.addCatch(recordFailure, { errors: [Errors.ALL], resultPath: '$.error' });
  return run;
}

/**
 * A Lambda task whose Resource is the function ARN and whose output is the handler's return value,
 * with the one retry policy ({@link LAMBDA_RETRY}); the service-exception retry CDK would add is off
 * so retries live in one place.
 */
function invokeTask(
  scope: Construct,
  name: string,
  lambdaFunction: IFunction,
  options: { comment: string; payload?: TaskInput; taskTimeout?: Timeout; resultPath?: string },
): LambdaInvoke {
  const task = LambdaInvoke.jsonPath(scope, name, {
    lambdaFunction,
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
    ...options,
  });
  task.addRetry(LAMBDA_RETRY);
  return task;
}
