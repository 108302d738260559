import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { EventField, Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, EventType } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { INCOMING_PREFIX, TENANT_ID_PATTERN } from '#shared/domain/batch';
import { parseJobRequest } from '#shared/domain/request';
import { ITEMS_PREFIX } from '#shared/ports/item-store';

/** The batch function's timeout; the queue's visibility timeout is {@link BATCH_VISIBILITY_FACTOR} times it. */
export const BATCH_FUNCTION_TIMEOUT = Duration.seconds(60);
/** Lambda's guidance for SQS event sources: a visibility timeout of at least six times the function's timeout. */
export const BATCH_VISIBILITY_FACTOR = 6;
/** Receives of a message before it moves to the dead-letter queue. */
export const BATCH_MAX_RECEIVE_COUNT = 3;
/** Records per batch the function receives. */
export const BATCH_SIZE = 10;
/** The CDK context key of the recurring job: `{ tenantId, request, schedule?, name? }`. */
export const BATCH_SCHEDULE_CONTEXT = 'batchSchedule';
/** The default schedule of the recurring job: every night at 02:00 UTC. */
export const DEFAULT_BATCH_SCHEDULE = 'cron(0 2 * * ? *)';

/** A recurring job enqueued by an EventBridge rule (e.g. the nightly compliance check). */
export interface BatchScheduleConfig {
  readonly tenantId: string;
  /** A job request, checked at synth time like any other. */
  readonly request: Record<string, unknown>;
  /** An EventBridge schedule expression; default {@link DEFAULT_BATCH_SCHEDULE}. */
  readonly schedule?: string;
  /** Names the rule and the idempotency keys of its runs; default `nightly`. */
  readonly name?: string;
}

/**
 * Reads and checks the recurring job from the `batchSchedule` context; undefined when not configured.
 * Throws (failing the synth) with the field's name when it is malformed.
 */
export function batchScheduleFromContext(raw: unknown): BatchScheduleConfig | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const value = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
  const c = value as Partial<BatchScheduleConfig> | null;
  const where = `context ${BATCH_SCHEDULE_CONTEXT}`;
  if (c === null || typeof c !== 'object') throw new Error(`${where}: must be an object`);
  if (typeof c.tenantId !== 'string' || !TENANT_ID_PATTERN.test(c.tenantId)) {
    throw new Error(`${where}.tenantId: must be 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
  if (c.schedule !== undefined && !/^(cron|rate)\(.+\)$/.test(c.schedule)) {
    throw new Error(`${where}.schedule: must be a cron(...) or rate(...) expression`);
  }
  if (c.name !== undefined && !/^[A-Za-z0-9-]{1,32}$/.test(c.name)) {
    throw new Error(`${where}.name: must be 1-32 characters of A-Z a-z 0-9 -`);
  }
  try {
    parseJobRequest(c.request, { maxSubagentsCap: Number.MAX_SAFE_INTEGER });
  } catch (error) {
    throw new Error(`${where}.request: ${error instanceof Error ? error.message : String(error)}`);
  }
  return c as BatchScheduleConfig;
}

/** Properties of {@link BatchIntake}. */
export interface BatchIntakeProps {
  /** A recurring job to enqueue; no rule without it. */
  readonly schedule?: BatchScheduleConfig;
}

/**
 * Where batch jobs come in: the batch queue (with its dead-letter queue and an alarm on the DLQ's
 * depth), the uploads bucket whose `incoming/` object-created notifications go to the queue, and
 * optionally an EventBridge rule that enqueues a recurring job. The consumer (the `batch` function)
 * lives in the workflow stack.
 */
export class BatchIntake extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly dlqAlarm: Alarm;
  readonly bucket: Bucket;
  /** `s3:GetObject` on the uploads under `incoming/`: what the batch function may read, and nothing else. */
  readonly readUploadsPolicy: ManagedPolicy;
  /** `s3:PutObject` on the item lists under `items/`: the plan function writes a Distributed Map's items. */
  readonly writeItemsPolicy: ManagedPolicy;
  /** `s3:GetObject` on the item lists under `items/`: the state machine's ItemReader reads them. */
  readonly readItemsPolicy: ManagedPolicy;
  readonly schedule: Rule | undefined;

  constructor(scope: Construct, id: string, props: BatchIntakeProps = {}) {
    super(scope, id);

    const queues = this.createQueues();
    this.deadLetterQueue = queues.deadLetterQueue;
    this.queue = queues.queue;
    this.dlqAlarm = queues.dlqAlarm;
    this.bucket = this.createUploadsBucket();
    this.bucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(this.queue), {
      prefix: INCOMING_PREFIX,
    });
    this.acknowledgeNotificationsHandler();

    const policies = this.createPolicies();
    this.readUploadsPolicy = policies.readUploads;
    this.writeItemsPolicy = policies.writeItems;
    this.readItemsPolicy = policies.readItems;

    this.schedule = props.schedule ? this.recurringJob(props.schedule) : undefined;
  }

  /** The batch queue, its DLQ, and the alarm on the DLQ. */
  private createQueues(): { deadLetterQueue: Queue; queue: Queue; dlqAlarm: Alarm } {
    // SQS-managed keys: S3 notifications and EventBridge cannot send to a queue encrypted with the AWS managed KMS key.
    const deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue of the batch queue',
    });
    const queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(BATCH_FUNCTION_TIMEOUT.toSeconds() * BATCH_VISIBILITY_FACTOR),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: BATCH_MAX_RECEIVE_COUNT },
    });

    const dlqAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription:
        'Batch messages that failed three times (unparseable, unknown tenant, invalid request) are in the DLQ',
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    return { deadLetterQueue, queue, dlqAlarm };
  }

  /** The uploads bucket (incoming/ for uploads, items/ for the Distributed Map) and its access-log bucket. */
  private createUploadsBucket(): Bucket {
    const accessLogs = new Bucket(this, 'UploadsAccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the server access logs of the uploads bucket; logging it would recurse',
    });
    return new Bucket(this, 'Uploads', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'uploads/',
      // An upload's subtasks are copied into the job when it is accepted; the file is not read again.
      lifecycleRules: [
        { prefix: INCOMING_PREFIX, expiration: Duration.days(30) },
        { prefix: ITEMS_PREFIX, expiration: Duration.days(7) },
      ],
    });
  }

  /** Reading uploads; writing and reading the item lists. */
  private createPolicies(): {
    readUploads: ManagedPolicy;
    writeItems: ManagedPolicy;
    readItems: ManagedPolicy;
  } {
    // Defined here, next to the bucket, so its finding names the bucket by logical id; the
    // workflow stack attaches it to the batch function's role.
    const readUploads = new ManagedPolicy(this, 'ReadUploads', {
      description: 'Read the batch uploads under incoming/',
      statements: [
        new PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [this.bucket.arnForObjects(`${INCOMING_PREFIX}*`)],
        }),
      ],
    });
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
    Validations.of(readUploads).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${INCOMING_PREFIX}*]`,
      reason:
        'Uploads are named by tenant and file under incoming/; the function reads any of them, only them',
    });

    // The Distributed Map's item lists share the bucket under items/ (no notification there).
    const items = this.bucket.arnForObjects(`${ITEMS_PREFIX}*`);
    const writeItems = new ManagedPolicy(this, 'WriteItems', {
      description: 'Write the Distributed Map item lists under items/',
      statements: [new PolicyStatement({ actions: ['s3:PutObject'], resources: [items] })],
    });
    const readItems = new ManagedPolicy(this, 'ReadItems', {
      description: 'Read the Distributed Map item lists under items/',
      statements: [new PolicyStatement({ actions: ['s3:GetObject'], resources: [items] })],
    });
    for (const policy of [writeItems, readItems]) {
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${ITEMS_PREFIX}*]`,
        reason:
          'Item lists are named by tenant, job and stage under items/; one role writes them, the state machine reads them',
      });
    }
    return { readUploads, writeItems, readItems };
  }

  /** The stack's bucket-notifications handler (a CDK-provided custom resource) has one accepted finding. */
  private acknowledgeNotificationsHandler(): void {
    const stack = Stack.of(this);
    for (const child of stack.node.children) {
      if (!child.node.id.startsWith('BucketNotificationsHandler')) continue;
      Validations.of(child).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's S3 bucket-notifications custom resource handler: the AWS managed basic execution role only lets it write its logs",
      });
    }
  }

  /**
   * A rule that puts the job message on the queue on schedule. Each run's idempotency key carries
   * the event's time, so a run delivered twice is one job and every run is a new one.
   */
  private recurringJob(config: BatchScheduleConfig): Rule {
    const name = config.name ?? 'nightly';
    const rule = new Rule(this, 'Schedule', {
      description: `Enqueues the recurring "${name}" job of tenant ${config.tenantId}`,
      schedule: Schedule.expression(config.schedule ?? DEFAULT_BATCH_SCHEDULE),
    });
    rule.addTarget(
      new SqsQueue(this.queue, {
        message: RuleTargetInput.fromObject({
          tenantId: config.tenantId,
          request: config.request,
          idempotencyKey: `schedule:${name}:${EventField.time}`,
        }),
        retryAttempts: 8,
        deadLetterQueue: this.deadLetterQueue,
      }),
    );
    return rule;
  }
}
