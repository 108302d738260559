import {
  type Acknowledgment,
  Aspects,
  type CfnElement,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IManagedPolicy } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
// The functions' defaults, unless the `moonshotBaseUrl` / `moonshotModel` context keys override them.
import { DEFAULT_MOONSHOT_BASE_URL, DEFAULT_MOONSHOT_MODEL, loadConfig } from '#shared/config';
import { FUNCTION_MEMORY_MB } from '#shared/domain/aws-cost';
import { ConfigError } from '#shared/domain/errors';
import {
  ContextError,
  executionTimeoutFromContext,
  FUNCTION_TIMEOUTS,
  type ReservedConcurrency,
  reservedConcurrencyFromContext,
} from './cloud-settings.ts';
import { NotifyOnAlarm } from './constructs/alerts.ts';
import { BATCH_FUNCTION_TIMEOUT, BATCH_SIZE } from './constructs/batch-intake.ts';
import { DashboardSite } from './constructs/dashboard-site.ts';
import { FanOutAlarms } from './constructs/fan-out-alarms.ts';
import { HandlerFunction, SERVICE_NAME } from './constructs/handler-function.ts';
import { ReservationSweeper } from './constructs/reservation-sweeper.ts';
import { SwarmAlarms } from './constructs/swarm-alarms.ts';
import { SwarmDashboard } from './constructs/swarm-dashboard.ts';
import { TenantApi } from './constructs/tenant-api.ts';
import { addStackOutputs } from './stack-outputs.ts';
import { buildWorkflowDefinition, DISTRIBUTED_MAP_LABEL } from './state-machine.ts';
import { TENANT_JOBS_INDEX } from './stateful-stack.ts';

/** The execution statuses that leave a job without a stored terminal state unless someone closes it. */
export const ENDED_EXECUTION_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/**
 * How long and how often EventBridge, and then Lambda's asynchronous invocation, keep trying to
 * hand an execution-status event to the execution-ended function before it goes to the DLQ.
 */
export const EXECUTION_ENDED_DELIVERY = {
  ruleRetryAttempts: 8,
  ruleMaxEventAge: Duration.hours(6),
  functionRetryAttempts: 2,
  functionMaxEventAge: Duration.hours(6),
  dlqRetention: Duration.days(14),
} as const;

/**
 * CDK context keys → the provider variables of the model-calling functions (set only when given):
 * `-c provider=ollama -c providerTier=moonshot-tier1 -c providerRpm=600`.
 */
export const PROVIDER_CONTEXT = {
  provider: 'PARL_PROVIDER',
  providerTier: 'PARL_PROVIDER_TIER',
  providerMaxConcurrency: 'PARL_PROVIDER_MAX_CONCURRENCY',
  providerRpm: 'PARL_PROVIDER_RPM',
  providerTpm: 'PARL_PROVIDER_TPM',
  providerOrchestratorShare: 'PARL_PROVIDER_ORCHESTRATOR_SHARE',
} as const;

function providerEnvironment(context: (key: string) => unknown): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, variable] of Object.entries(PROVIDER_CONTEXT)) {
    const value = context(key);
    if (value !== undefined && value !== null) env[variable] = String(value);
  }
  return env;
}

/** The context key behind each variable the functions' environment takes from the context. */
const CONTEXT_OF_VARIABLE: Record<string, string> = {
  MOONSHOT_BASE_URL: 'moonshotBaseUrl',
  MOONSHOT_MODEL: 'moonshotModel',
  ...Object.fromEntries(Object.entries(PROVIDER_CONTEXT).map(([key, variable]) => [variable, key])),
};

/**
 * Checks the functions' environment as their config will at cold start, failing the synth with
 * the context key that set a bad value (and the variable's own rule as what is allowed).
 */
function checkEnvironment(environment: Record<string, string>): void {
  try {
    loadConfig({ TABLE_NAME: 'synth', ...environment });
  } catch (error) {
    const variable = error instanceof ConfigError ? error.variable : undefined;
    const key = variable ? CONTEXT_OF_VARIABLE[variable] : undefined;
    if (!key || !(error instanceof ConfigError)) throw error;
    throw new ContextError(key, environment[variable ?? ''], `${variable} ${error.reason}`);
  }
}

/** Properties of the {@link WorkflowStack}: what it uses from the stateful stack. */
export interface WorkflowStackProps extends StackProps {
  readonly table: ITable;
  readonly moonshotApiKey: ISecret;
  /** The Distributed Map's item lists (under `items/` of the bucket): the plan writes them, the Map reads them. */
  readonly items: {
    readonly bucket: IBucket;
    readonly writeItemsPolicy: IManagedPolicy;
    readonly readItemsPolicy: IManagedPolicy;
  };
  /** The batch queue and uploads bucket; with them the stack adds the `batch` function consuming the queue. */
  readonly batch?: {
    readonly queue: IQueue;
    readonly deadLetterQueue?: IQueue;
    readonly readUploadsPolicy: IManagedPolicy;
  };
  /** The topic every alarm of the stack notifies. */
  readonly alarmTopic: ITopic;
}

/**
 * The stateless part of a job's life: the plan, sub-agent and aggregate functions and the
 * state machine that runs them (defined in `state-machine.ts`), and the execution-ended function
 * that closes the job of an execution that failed outside a Catch, timed out or was stopped.
 */
export class WorkflowStack extends Stack {
  readonly plan: HandlerFunction;
  readonly subagent: HandlerFunction;
  readonly aggregate: HandlerFunction;
  readonly stateMachine: StateMachine;
  readonly executionEnded: HandlerFunction;
  /** Routes the state machine's FAILED, TIMED_OUT and ABORTED status changes to {@link executionEnded}. */
  readonly executionEndedRule: Rule;
  /** Status-change events that could not be handled, kept for a redrive. */
  readonly executionEndedDlq: Queue;
  /** Starts one job per batch-queue message (job messages and upload notifications); present with `props.batch`. */
  readonly batch: HandlerFunction | undefined;
  /** Alarms on serial collapse and spurious parallelism (metrics the aggregate function emits). */
  readonly fanOutAlarms: FanOutAlarms;
  /** The tenants' REST API (API Gateway, authorizer, api function). */
  readonly api: TenantApi;
  /** The dashboard page (S3 + CloudFront; output `DashboardSiteUrl`), the API's only CORS origin. */
  readonly dashboardSite: DashboardSite;
  /** Returns the money of reservations no live job will settle, on a schedule. */
  readonly sweeper: ReservationSweeper;
  /** Orchestrator failure, the execution-ended DLQ, API 5XX, DynamoDB throttles, the provider's circuit. */
  readonly alarms: SwarmAlarms;
  /** The CloudWatch dashboard (its URL is the stack output `DashboardUrl`). */
  readonly dashboard: SwarmDashboard;
  /** Executions reserved per function (context keys `subagentConcurrency`, `apiConcurrency`, …). */
  readonly reservedConcurrency: ReservedConcurrency;
  /** The state machine's execution timeout (context `executionTimeoutHours`). */
  readonly executionTimeout: Duration;

  constructor(scope: Construct, id: string, props: WorkflowStackProps) {
    super(scope, id, props);

    const context = (key: string): unknown => this.node.tryGetContext(key);
    this.reservedConcurrency = reservedConcurrencyFromContext(context);
    this.executionTimeout = executionTimeoutFromContext(context);
    const environment: Record<string, string> = {
      MOONSHOT_BASE_URL: String(context('moonshotBaseUrl') ?? DEFAULT_MOONSHOT_BASE_URL),
      MOONSHOT_MODEL: String(context('moonshotModel') ?? DEFAULT_MOONSHOT_MODEL),
      ...providerEnvironment(context),
      // The plan keeps a Map within the sub-agents' pool and their deadline within the execution's.
      ...(this.reservedConcurrency.subagentConcurrency > 0
        ? { PARL_SUBAGENT_CONCURRENCY: String(this.reservedConcurrency.subagentConcurrency) }
        : {}),
      PARL_EXECUTION_TIMEOUT_SECONDS: String(this.executionTimeout.toSeconds()),
    };
    // Fail the synth, naming the context key, rather than every function at its first cold start.
    checkEnvironment(environment);
    const fn = (id: string, name: 'plan' | 'subagent' | 'aggregate', description: string) =>
      new HandlerFunction(this, id, {
        name,
        timeout: FUNCTION_TIMEOUTS[name],
        // One table of sizes for the stack and the cost model (metrics.aws).
        memorySize: FUNCTION_MEMORY_MB[name],
        description,
        environment,
        reservedConcurrency: this.reservedConcurrency[`${name}Concurrency`],
      })
        // Read/write on the whole table for now. Every key leads with `TENANT#<tenantId>`, so the
        // data path can be narrowed per tenant with the `dynamodb:LeadingKeys` condition key
        // (the per-provider-key rate-limit buckets, shared by all tenants, then need their own statement).
        .bindTable(props.table, 'readWrite', { indexes: [TENANT_JOBS_INDEX] })
        .bindSecret(props.moonshotApiKey);

    this.plan = fn('Plan', 'plan', 'PARL orchestrator: decomposes a job into sub-agents').bindItemsBucket(
      props.items.bucket,
      props.items.writeItemsPolicy,
    );
    this.subagent = fn('Subagent', 'subagent', 'PARL sub-agent: works through its subtasks');
    this.aggregate = fn('Aggregate', 'aggregate', 'PARL aggregate: measures, reward, result').bindItemsBucket(
      props.items.bucket,
      props.items.writeItemsPolicy,
    );

    this.stateMachine = this.workflow();
    // The Distributed Map's ItemReader gets the plan's item list (its bucket comes from the state).
    this.stateMachine.role.addManagedPolicy(props.items.readItemsPolicy);
    this.acknowledgeStateMachineFindings();

    const ended = this.closeEndedExecutions(props.table);
    this.executionEnded = ended.fn;
    this.executionEndedRule = ended.rule;
    this.executionEndedDlq = ended.dlq;
    this.fanOutAlarms = new FanOutAlarms(this, 'FanOutAlarms', { service: SERVICE_NAME });

    this.dashboardSite = new DashboardSite(this, 'DashboardSite');
    this.api = new TenantApi(this, 'TenantApi', {
      table: props.table,
      tenantIndex: TENANT_JOBS_INDEX,
      stateMachine: this.stateMachine,
      corsOrigin: this.dashboardSite.origin,
      reservedConcurrency: {
        api: this.reservedConcurrency.apiConcurrency,
        authorizer: this.reservedConcurrency.authorizerConcurrency,
      },
    });
    this.dashboardSite.publish(this.api.api.url);

    this.sweeper = new ReservationSweeper(this, 'ReservationSweeper', {
      table: props.table,
      index: TENANT_JOBS_INDEX,
    });
    this.batch = props.batch ? this.batchConsumer(props) : undefined;

    const monitored = this.monitor(props);
    this.alarms = monitored.alarms;
    this.dashboard = monitored.dashboard;
    this.addOutputs(props);
  }

  /** The outputs an operator and `parl --stack` need (the dashboard's URL is the dashboard's own). */
  private addOutputs(props: WorkflowStackProps): void {
    addStackOutputs(this, {
      apiUrl: { value: this.api.api.url, description: 'The tenants’ REST API (append v1/jobs)' },
      tableName: { value: props.table.tableName, description: 'The DynamoDB table' },
      stateMachineArn: { value: this.stateMachine.stateMachineArn, description: 'The job workflow' },
      uploadsBucket: {
        value: props.items.bucket.bucketName,
        description: 'Uploads (incoming/<tenantId>/) and the Distributed Map’s item lists (items/)',
      },
      secretArn: { value: props.moonshotApiKey.secretArn, description: 'The provider key’s secret' },
      dashboardSiteUrl: {
        value: this.dashboardSite.origin,
        description: 'The dashboard page (open it with #key=<a tenant’s API key>)',
      },
      ...(props.batch
        ? {
            batchQueueUrl: { value: props.batch.queue.queueUrl, description: 'The batch job queue' },
            ...(props.batch.deadLetterQueue
              ? {
                  batchDlqUrl: {
                    value: props.batch.deadLetterQueue.queueUrl,
                    description: 'The batch queue’s dead-letter queue',
                  },
                }
              : {}),
          }
        : {}),
    });
  }

  /** The job state machine: the workflow definition over plan, subagent and aggregate, logged and traced. */
  private workflow(): StateMachine {
    const logs = new LogGroup(this, 'WorkflowLogs', {
      // The /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy small.
      logGroupName: `/aws/vendedlogs/states/${this.stackName}-Workflow`,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    return new StateMachine(this, 'Workflow', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(
        buildWorkflowDefinition(this, {
          plan: this.plan,
          subagent: this.subagent,
          aggregate: this.aggregate,
        }),
      ),
      tracingEnabled: true,
      // State payloads carry ids and references only (large data lives in DynamoDB), so logging
      // execution data is safe and makes failed executions readable.
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: true },
      timeout: this.executionTimeout,
    });
  }

  /** The alarms (every one notifies `props.alarmTopic`) and the dashboard over everything above. */
  private monitor(props: WorkflowStackProps): { alarms: SwarmAlarms; dashboard: SwarmDashboard } {
    Aspects.of(this).add(new NotifyOnAlarm(props.alarmTopic));
    const alarms = new SwarmAlarms(this, 'Alarms', {
      service: SERVICE_NAME,
      stateMachine: this.stateMachine,
      plan: this.plan,
      aggregate: this.aggregate,
      table: props.table,
      tableIndex: TENANT_JOBS_INDEX,
      api: this.api.api,
      executionEndedDlq: this.executionEndedDlq,
    });
    const functions = [
      this.plan,
      this.subagent,
      this.aggregate,
      this.executionEnded,
      this.api.handler,
      this.api.authorizerFunction,
      this.sweeper.fn,
      ...(this.batch ? [this.batch] : []),
    ];
    const deadLetterQueues: Record<string, IQueue> = { 'execution-ended DLQ': this.executionEndedDlq };
    if (props.batch?.deadLetterQueue) deadLetterQueues['batch DLQ'] = props.batch.deadLetterQueue;
    const dashboard = new SwarmDashboard(this, 'Dashboard', {
      service: SERVICE_NAME,
      stateMachine: this.stateMachine,
      functions: Object.fromEntries(functions.map((fn) => [fn.handlerName, fn])),
      subagent: this.subagent,
      table: props.table,
      tableIndex: TENANT_JOBS_INDEX,
      api: this.api.api,
      deadLetterQueues,
      alarms: [...alarms.all, this.fanOutAlarms.serialCollapse, this.fanOutAlarms.spuriousParallelism],
    });
    return { alarms, dashboard };
  }

  /**
   * The batch queue's consumer: records in batches of {@link BATCH_SIZE}, failures reported per
   * record (`ReportBatchItemFailures`), so a poison message returns alone and reaches the DLQ.
   */
  private batchConsumer(props: WorkflowStackProps): HandlerFunction {
    const batch = props.batch!;
    const fn = new HandlerFunction(this, 'Batch', {
      name: 'batch',
      timeout: BATCH_FUNCTION_TIMEOUT,
      memorySize: 512,
      description: 'PARL batch: starts one job per queue message or uploaded file of subtasks',
      // No model call: no Moonshot endpoint and no provider key. Tenants, budgets, idempotency
      // claims and usage are in the table, as for the API.
    })
      .bindTable(props.table, 'readWrite')
      .bindStateMachine(this.stateMachine);
    fn.role?.addManagedPolicy(batch.readUploadsPolicy);
    fn.addEventSource(
      new SqsEventSource(batch.queue, {
        batchSize: BATCH_SIZE,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      }),
    );
    return fn;
  }

  /**
   * No job stays RUNNING: an execution that ends FAILED (outside a Catch), TIMED_OUT or ABORTED
   * emits a status-change event, and the execution-ended function closes its job. Events that
   * cannot be delivered, or whose handling keeps failing, land in an encrypted DLQ.
   */
  private closeEndedExecutions(table: ITable): { fn: HandlerFunction; rule: Rule; dlq: Queue } {
    const fn = new HandlerFunction(this, 'ExecutionEnded', {
      name: 'execution-ended',
      timeout: Duration.seconds(60),
      memorySize: 256,
      description: 'PARL execution-ended: closes the job of a failed, timed-out or stopped execution',
    })
      // No model call and no tenant listing: the table's items only, no index, no provider key.
      .bindTable(table, 'readWrite');

    const dlq = new Queue(this, 'ExecutionEndedDlq', {
      // SQS-managed keys: EventBridge cannot send to a queue encrypted with the AWS managed KMS key.
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: EXECUTION_ENDED_DELIVERY.dlqRetention,
    });
    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the execution-ended rule target and function',
    });
    fn.configureAsyncInvoke({
      retryAttempts: EXECUTION_ENDED_DELIVERY.functionRetryAttempts,
      maxEventAge: EXECUTION_ENDED_DELIVERY.functionMaxEventAge,
      onFailure: new SqsDestination(dlq),
    });

    const rule = new Rule(this, 'ExecutionEndedRule', {
      description: 'Closes the job of a workflow execution that failed, timed out or was stopped',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: [...ENDED_EXECUTION_STATUSES],
          stateMachineArn: [this.stateMachine.stateMachineArn],
        },
      },
    });
    rule.addTarget(
      new LambdaFunction(fn, {
        retryAttempts: EXECUTION_ENDED_DELIVERY.ruleRetryAttempts,
        maxEventAge: EXECUTION_ENDED_DELIVERY.ruleMaxEventAge,
        deadLetterQueue: dlq,
      }),
    );
    return { fn, rule, dlq };
  }

  /** Accepted cdk-nag findings on the state machine's role and policies, each named exactly. */
  private acknowledgeStateMachineFindings(): void {
    const logicalId = (c: HandlerFunction | StateMachine) =>
      this.getLogicalId(c.node.defaultChild as CfnElement);
    const acknowledgments: Acknowledgment[] = [
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "X-Ray tracing and vended log delivery (logs:CreateLogDelivery and friends) support no resource scoping; the Distributed Map's ResultWriter takes its bucket from the state ($.items.bucket), as its ItemReader does, so CDK grants its s3:PutObject on *",
      },
      ...[this.plan, this.subagent, this.aggregate].map((fn) => ({
        id: `AwsSolutions-IAM5[Resource::<${logicalId(fn)}.Arn>:*]`,
        reason: `lambda:InvokeFunction on the versions and aliases (<arn>:*) of the ${fn.handlerName} function only`,
      })),
    ];
    // The Distributed Map describes and stops the child executions of its own map runs.
    const executions = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${JSON.stringify(
      {
        'Fn::Select': [6, { 'Fn::Split': [':', { Ref: logicalId(this.stateMachine) }] }],
      },
    )}`;
    for (const resource of [`${executions}:*`, `${executions}/${DISTRIBUTED_MAP_LABEL}:*`]) {
      acknowledgments.push({
        id: `AwsSolutions-IAM5[Resource::${resource}]`,
        reason: 'The Distributed Map manages the executions of this state machine and its own map runs only',
      });
    }
    Validations.of(this.stateMachine).acknowledge(...acknowledgments);
  }
}
