import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';

/** The repository root (holds package.json, package-lock.json and `lambdas/`). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The Powertools service name shared by every function of the product. */
export const SERVICE_NAME = 'parl-swarm';

/**
 * Environment variable that names the handler a function runs (`plan`, `subagent`, `aggregate`).
 * The local runtime binds each Task state to the in-process handler through it.
 */
export const FUNCTION_NAME_ENV = 'PARL_FUNCTION';

/** Environment variable holding the DynamoDB table name, set by {@link HandlerFunction.bindTable}. */
export const TABLE_NAME_ENV = 'TABLE_NAME';

/** Environment variable holding the provider key's secret ARN, set by {@link HandlerFunction.bindSecret}. */
export const SECRET_ARN_ENV = 'MOONSHOT_API_KEY_SECRET_ARN';

/** Environment variable holding the item-list bucket, set by {@link HandlerFunction.bindItemsBucket}. */
export const ITEMS_BUCKET_ENV = 'ITEMS_BUCKET';

/** Environment variable holding the job state machine's ARN, set by {@link HandlerFunction.bindStateMachine}. */
export const STATE_MACHINE_ARN_ENV = 'STATE_MACHINE_ARN';

/** How much of a table a function may touch. */
export type TableAccess = 'read' | 'readWrite';

/** Item reads (transactional reads need GetItem; conditional transaction parts ConditionCheckItem). */
const TABLE_READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DescribeTable',
];
/** Item writes (transactional writes need the per-item actions). */
const TABLE_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

/** Options of {@link HandlerFunction.bindTable}. */
export interface BindTableOptions {
  /** Secondary indexes the function may query; none unless listed. */
  readonly indexes?: readonly string[];
}

/** Properties of a {@link HandlerFunction}. */
export interface HandlerFunctionProps {
  /** Folder under `lambdas/` whose `handler.ts` exports `handler`; also the value of `PARL_FUNCTION`. */
  readonly name: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly description?: string;
  /** Extra environment variables, merged over the defaults. */
  readonly environment?: Record<string, string>;
  /** Concurrent executions reserved for the function (its own pool and its ceiling); 0 or unset: none. */
  readonly reservedConcurrency?: number;
}

/**
 * A Node.js 22 / arm64 Lambda function bundled from `lambdas/<name>/handler.ts` with the project's
 * defaults: X-Ray tracing, a one-month log group, minified ESM with source maps, the AWS SDK left
 * to the runtime. `bind*` helpers grant access and set the matching environment variable together.
 *
 * @example
 * const plan = new HandlerFunction(this, 'Plan', { name: 'plan', timeout: Duration.seconds(60), memorySize: 512 })
 *   .bindTable(table, 'readWrite')
 *   .bindSecret(secret);
 */
export class HandlerFunction extends NodejsFunction {
  /** The handler's name (`PARL_FUNCTION`). */
  readonly handlerName: string;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    // An explicit log group (sibling of the function) so retention and removal are ours, not
    // Lambda's implicit never-expiring `/aws/lambda/<name>` group.
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: join(REPO_ROOT, 'lambdas', props.name, 'handler.ts'),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      tracing: Tracing.ACTIVE,
      timeout: props.timeout,
      memorySize: props.memorySize,
      ...(props.reservedConcurrency ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      ...(props.description ? { description: props.description } : {}),
      logGroup,
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        // CommonJS dependencies bundled into ESM still call require().
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        sourceMap: true,
        minify: true,
        externalModules: ['@aws-sdk/*'],
      },
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        [FUNCTION_NAME_ENV]: props.name,
        ...props.environment,
      },
    });
    this.handlerName = props.name;

    // Accepted findings that follow from the defaults above (each is narrowed to this function).
    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The AWS managed basic execution role only lets the function write its own logs',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray active tracing: xray:PutTraceSegments and PutTelemetryRecords support no resource scoping',
      },
      {
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 is the runtime pinned for development and tests (node@22), so local and cloud run the same major',
      },
    );
  }

  /**
   * Grants the function `access` to the items of `table` (and to query the listed `indexes`, by
   * name rather than `index/*`) and sets `TABLE_NAME`.
   * @returns this function, for chaining
   */
  bindTable(table: ITable, access: TableAccess, options: BindTableOptions = {}): this {
    const indexArns = (options.indexes ?? []).map((index) => `${table.tableArn}/index/${index}`);
    this.addToRolePolicy(
      new PolicyStatement({
        actions: access === 'read' ? TABLE_READ_ACTIONS : [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS],
        resources: [table.tableArn, ...indexArns],
      }),
    );
    if (access === 'read') table.encryptionKey?.grantDecrypt(this);
    else table.encryptionKey?.grantEncryptDecrypt(this);
    this.addEnvironment(TABLE_NAME_ENV, table.tableName);
    return this;
  }

  /**
   * Grants the function read access to the provider key's secret and sets `MOONSHOT_API_KEY_SECRET_ARN`.
   * @returns this function, for chaining
   */
  bindSecret(secret: ISecret): this {
    secret.grantRead(this);
    this.addEnvironment(SECRET_ARN_ENV, secret.secretArn);
    return this;
  }

  /**
   * Lets the function write a Distributed Map's item lists (`writePolicy`, scoped to their prefix)
   * and names their bucket in ITEMS_BUCKET.
   */
  bindItemsBucket(bucket: IBucket, writePolicy: IManagedPolicy): this {
    this.role?.addManagedPolicy(writePolicy);
    this.addEnvironment(ITEMS_BUCKET_ENV, bucket.bucketName);
    return this;
  }

  /**
   * Grants the function `states:StartExecution` on the state machine and sets `STATE_MACHINE_ARN`.
   * @returns this function, for chaining
   */
  bindStateMachine(stateMachine: IStateMachine): this {
    stateMachine.grantStartExecution(this);
    this.addEnvironment(STATE_MACHINE_ARN_ENV, stateMachine.stateMachineArn);
    return this;
  }
}
