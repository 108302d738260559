/**
 * The template's event resources in fauxqs: its queues (with their redrive policies), its buckets,
 * its S3 queue notifications and its SQS event source mappings, read from the synthesized
 * templates as CloudFormation would create them.
 */
import {
  BucketAlreadyExists,
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type CfnTemplate,
  localArn,
  localBucketName,
  resolveIntrinsics,
  resourcesOfType,
} from '#local/template';

/** The synthesized templates the event resources come from. */
export interface EventTemplates {
  templates: Record<string, CfnTemplate>;
  region: string;
  /**
   * Overrides every queue's visibility timeout (seconds). The template's (6× the function timeout)
   * is honoured by default; a shorter one lets a failed record come back, and a poison record
   * reach the DLQ, in seconds instead of minutes.
   */
  visibilityTimeoutSeconds?: number;
}

/** A queue of the template, created in fauxqs. */
export interface LocalQueue {
  logicalId: string;
  name: string;
  url: string;
  arn: string;
  /** The queue its redrive policy sends messages to, after `maxReceiveCount` receives. */
  deadLetterQueue?: { logicalId: string; maxReceiveCount: number };
}

/** An SQS event source mapping of the template. */
export interface LocalEventSource {
  queue: LocalQueue;
  /** The function's `PARL_FUNCTION`. */
  functionName: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
}

/** An S3 notification of the template: object-created events under `prefix` go to `queue`. */
export interface LocalNotification {
  bucket: string;
  queue: LocalQueue;
  prefix: string;
  suffix: string;
}

const positiveSeconds = (value: unknown, fallback: number): number => {
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/** The templates' queues, buckets, notifications and event source mappings, created in fauxqs. */
export interface EventResources {
  /** The queues by logical id. */
  queues: Map<string, LocalQueue>;
  /** The buckets: logical id → local bucket name. */
  buckets: Map<string, string>;
  notifications: LocalNotification[];
  eventSources: LocalEventSource[];
}

/** Creates the templates' queues and buckets and reads their notifications and event source mappings. */
export async function createEventResources(
  sqs: SQSClient,
  s3: S3Client,
  opts: EventTemplates,
): Promise<EventResources> {
  const templates = Object.values(opts.templates);
  const queues = await createQueues(sqs, templates, opts);
  const buckets = await createBuckets(s3, templates);
  const byLocalArn = new Map(
    [...queues.values()].map((q) => [localArn('AWS::SQS::Queue', q.logicalId, opts.region), q]),
  );
  return {
    queues,
    buckets,
    notifications: readNotifications(opts, buckets, byLocalArn),
    eventSources: readEventSources(opts, byLocalArn),
  };
}

/**
 * Creates a queue, or (kept in the data directory from an earlier run, perhaps with other
 * attributes) finds it and sets its attributes: a restart keeps the queue and its messages.
 */
async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const out = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return out.QueueUrl ?? '';
  } catch (error) {
    if (!(error instanceof QueueNameExists)) throw error;
    const { QueueUrl = '' } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
    return QueueUrl;
  }
}

/** Creates every AWS::SQS::Queue of the templates, then sets the redrive policies (DLQs exist by then). */
async function createQueues(
  sqs: SQSClient,
  templates: CfnTemplate[],
  opts: EventTemplates,
): Promise<Map<string, LocalQueue>> {
  const queues = new Map<string, LocalQueue>();
  const redrives: [LocalQueue, { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown }][] = [];
  for (const template of templates) {
    for (const [logicalId, res] of resourcesOfType(template, 'AWS::SQS::Queue')) {
      const p = res.Properties ?? {};
      const name = typeof p.QueueName === 'string' ? p.QueueName : logicalId;
      const visibility = opts.visibilityTimeoutSeconds ?? positiveSeconds(p.VisibilityTimeout, 30);
      const url = await ensureQueue(sqs, name, {
        VisibilityTimeout: String(Math.round(visibility)),
        MessageRetentionPeriod: String(positiveSeconds(p.MessageRetentionPeriod, 345_600)),
      });
      const attrs = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
      );
      const queue: LocalQueue = { logicalId, name, url, arn: attrs.Attributes?.QueueArn ?? '' };
      queues.set(logicalId, queue);
      if (p.RedrivePolicy) redrives.push([queue, p.RedrivePolicy as { deadLetterTargetArn?: unknown }]);
    }
  }
  for (const [queue, policy] of redrives) {
    const target = policy.deadLetterTargetArn as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const dlq = queues.get(target?.['Fn::GetAtt']?.[0] ?? '');
    if (!dlq) throw new Error(`queue ${queue.logicalId}: its dead-letter queue is not in the templates`);
    const maxReceiveCount = Number(policy.maxReceiveCount);
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queue.url,
        Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount }) },
      }),
    );
    queue.deadLetterQueue = { logicalId: dlq.logicalId, maxReceiveCount };
  }
  return queues;
}

async function createBuckets(s3: S3Client, templates: CfnTemplate[]): Promise<Map<string, string>> {
  const buckets = new Map<string, string>();
  for (const template of templates) {
    for (const [logicalId, res] of resourcesOfType(template, 'AWS::S3::Bucket')) {
      const name = localBucketName(logicalId, res.Properties?.BucketName);
      try {
        await s3.send(new CreateBucketCommand({ Bucket: name }));
      } catch (error) {
        // Kept in the data directory from an earlier run.
        if (!(error instanceof BucketAlreadyOwnedByYou || error instanceof BucketAlreadyExists)) throw error;
      }
      buckets.set(logicalId, name);
    }
  }
  return buckets;
}

/** The queue notifications of the templates' `Custom::S3BucketNotifications` (CDK's addEventNotification). */
function readNotifications(
  opts: EventTemplates,
  buckets: Map<string, string>,
  queuesByLocalArn: Map<string, LocalQueue>,
): LocalNotification[] {
  const out: LocalNotification[] = [];
  for (const template of Object.values(opts.templates)) {
    for (const [, res] of resourcesOfType(template, 'Custom::S3BucketNotifications')) {
      const p = res.Properties ?? {};
      const bucket = buckets.get(String((p.BucketName as { Ref?: unknown } | undefined)?.Ref ?? ''));
      const config = (p.NotificationConfiguration ?? {}) as {
        QueueConfigurations?: Record<string, unknown>[];
      };
      for (const qc of config.QueueConfigurations ?? []) {
        const events = (qc.Events as string[] | undefined) ?? [];
        if (!events.some((e) => e === 's3:ObjectCreated:*' || e === 's3:ObjectCreated:Put')) continue;
        const queueArn = String(
          resolveIntrinsics(qc.QueueArn, { templates: opts.templates, template, region: opts.region }),
        );
        const queue = queuesByLocalArn.get(queueArn);
        if (!bucket || !queue) continue;
        const rules =
          (qc.Filter as { Key?: { FilterRules?: { Name: string; Value: string }[] } } | undefined)?.Key
            ?.FilterRules ?? [];
        out.push({
          bucket,
          queue,
          prefix: rules.find((r) => r.Name.toLowerCase() === 'prefix')?.Value ?? '',
          suffix: rules.find((r) => r.Name.toLowerCase() === 'suffix')?.Value ?? '',
        });
      }
    }
  }
  return out;
}

/** The SQS event source mappings of the templates, with the `PARL_FUNCTION` of their function. */
function readEventSources(
  opts: EventTemplates,
  queuesByLocalArn: Map<string, LocalQueue>,
): LocalEventSource[] {
  const out: LocalEventSource[] = [];
  for (const template of Object.values(opts.templates)) {
    for (const [, res] of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
      const p = res.Properties ?? {};
      const ctx = { templates: opts.templates, template, region: opts.region };
      const queue = queuesByLocalArn.get(String(resolveIntrinsics(p.EventSourceArn, ctx)));
      const fnId = String((p.FunctionName as { Ref?: unknown } | undefined)?.Ref ?? '');
      const fn = template.Resources?.[fnId];
      const env = (fn?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
        ?.Variables;
      const functionName = typeof env?.PARL_FUNCTION === 'string' ? env.PARL_FUNCTION : undefined;
      if (!queue || !functionName) continue;
      out.push({
        queue,
        functionName,
        batchSize: Number(p.BatchSize ?? 10),
        reportBatchItemFailures: ((p.FunctionResponseTypes as string[] | undefined) ?? []).includes(
          'ReportBatchItemFailures',
        ),
      });
    }
  }
  return out;
}
