import { Aspects, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { keys } from '#shared/adapters/dynamo/keys';
import { ALARM_EMAIL_CONTEXT, Alerts, alarmEmailsFromContext, NotifyOnAlarm } from './constructs/alerts.ts';
import { BATCH_SCHEDULE_CONTEXT, BatchIntake, batchScheduleFromContext } from './constructs/batch-intake.ts';

/** The name of the GSI that lists a tenant's jobs (and every tenant): the adapters' one index. */
export const TENANT_JOBS_INDEX = keys.index;

/**
 * What outlives deployments: the single DynamoDB table (jobs, steps, tenants, usage, policy,
 * rate-limit buckets) and the provider's API key (both retained when the stack is deleted), the
 * batch intake, and the alarm topic (so confirmed e-mail subscriptions survive a workflow redeploy).
 */
export class StatefulStack extends Stack {
  /**
   * The data table. Every key leads with `TENANT#<tenantId>`; `gsi1` (`gsi1pk`, `gsi1sk`) lists a
   * tenant's jobs newest first; `ttl` expires rate-limit buckets and other short-lived records.
   */
  readonly table: ITable;
  /** The Moonshot API key; its value is set by operators (`aws secretsmanager put-secret-value`). */
  readonly moonshotApiKey: ISecret;
  /** The batch queue, its DLQ and alarm, the uploads bucket and the optional recurring job. */
  readonly batch: BatchIntake;
  /** The topic every alarm of the app notifies (e-mail subscriptions from the `alarmEmail` context). */
  readonly alerts: Alerts;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // The construct id 'Data' fixes the logical id: changing it would replace (and orphan) the table.
    const table = new Table(this, 'Data', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'ttl',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: TENANT_JOBS_INDEX,
      partitionKey: { name: 'gsi1pk', type: AttributeType.STRING },
      sortKey: { name: 'gsi1sk', type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
    this.table = table;

    const secret = new Secret(this, 'MoonshotApiKey', {
      description: 'Moonshot (OpenAI-compatible) API key of the provider; value set by operators',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A third-party API key issued by Moonshot: it cannot be rotated by a Lambda; operators rotate it at the provider and put the new value',
    });
    this.moonshotApiKey = secret;

    const schedule = batchScheduleFromContext(this.node.tryGetContext(BATCH_SCHEDULE_CONTEXT));
    this.batch = new BatchIntake(this, 'Batch', schedule ? { schedule } : {});

    this.alerts = new Alerts(this, 'Alerts', {
      emails: alarmEmailsFromContext(this.node.tryGetContext(ALARM_EMAIL_CONTEXT)),
    });
    Aspects.of(this).add(new NotifyOnAlarm(this.alerts.topic));
  }
}
