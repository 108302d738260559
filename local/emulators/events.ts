/**
 * The local event sources: fauxqs (SQS and S3 on 127.0.0.1) with the template's queues, redrive
 * policies and buckets; the template's S3 notifications, delivered as S3 delivers them (an
 * `s3:ObjectCreated:*` event record sent to the queue); and the template's SQS event source
 * mappings, polled as Lambda polls them: real SQS event batches, `batchItemFailures` honoured
 * (only the successful records are deleted; a thrown error deletes nothing), failed records
 * returning after the visibility timeout, and fauxqs moving a message to the DLQ after
 * `maxReceiveCount` receives.
 */
import { mkdirSync } from 'node:fs';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type FauxqsServer, type SpyMessage, startFauxqs } from 'fauxqs';
import { localBucketName } from '#local/template';
import { createS3Client, createSqsClient } from '#shared/adapters/aws/clients';
import { type QueueDepth, queueDepth } from '#shared/adapters/aws/sqs';
import {
  createEventResources,
  type EventTemplates,
  type LocalEventSource,
  type LocalNotification,
  type LocalQueue,
} from './event-resources';

export { localBucketName };

/** A handler as the local runtime invokes it. */
export type LocalHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LocalEventsOptions extends EventTemplates {
  /** Handlers by `PARL_FUNCTION`; an event source mapping to a function without one is not polled. */
  handlers: Record<string, LocalHandler>;
  /** Builds the Lambda context of an invocation. */
  context: (functionName: string) => Context;
  /** Long-poll wait of each receive, in seconds (default 1). */
  waitTimeSeconds?: number;
  /** Concurrent pollers per event source mapping (Lambda polls with several; default 2). */
  pollers?: number;
  /** Port of fauxqs (default 0: chosen by the OS). */
  port?: number;
  /**
   * Where fauxqs keeps its queues, messages and objects (SQLite), so that a restart (of `parl
   * serve`) finds the DLQ's messages and the uploads again; unset: in memory.
   */
  dataDir?: string;
}

/** Counters of what the pollers did. */
export interface LocalEventStats {
  batches: number;
  recordsDelivered: number;
  recordsFailed: number;
  recordsDeleted: number;
  notificationsSent: number;
}

/** Encodes an object key the way S3 writes it into event notifications (`+` for spaces). */
export function encodeS3EventKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
}

/** An SQS message as Lambda hands it to the function. */
export function toSqsRecord(message: Message, queueArn: string, region: string): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, v]) => [
        name,
        {
          dataType: v.DataType ?? 'String',
          ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: region,
  };
}

/**
 * The message ids a handler's result leaves on the queue, as Lambda reads it: with
 * ReportBatchItemFailures, the listed items (all of them if an identifier is missing or unknown);
 * without it, none.
 */
export function failedMessageIds(
  result: unknown,
  records: readonly SQSRecord[],
  reportBatchItemFailures: boolean,
): Set<string> {
  const all = new Set(records.map((r) => r.messageId));
  if (!reportBatchItemFailures) return new Set();
  const failures = (result as Partial<SQSBatchResponse> | null | undefined)?.batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return all;
  const out = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown })?.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) return all;
    out.add(id);
  }
  return out;
}

/** fauxqs with the template's queues and buckets, its S3 notifications and its SQS event source mappings. */
export class LocalEvents {
  readonly stats: LocalEventStats = {
    batches: 0,
    recordsDelivered: 0,
    recordsFailed: 0,
    recordsDeleted: 0,
    notificationsSent: 0,
  };
  /** How many times each message was delivered to a handler, by message id. */
  readonly deliveries = new Map<string, number>();
  private closed = false;
  private readonly loops: Promise<void>[] = [];
  private readonly handledUploads = new WeakSet<SpyMessage>();
  private sequence = 0;
  private running = 0;

  private constructor(
    private readonly server: FauxqsServer,
    private readonly opts: LocalEventsOptions,
    readonly sqs: SQSClient,
    readonly s3: S3Client,
    /** The template's queues by logical id. */
    readonly queues: Map<string, LocalQueue>,
    /** The template's buckets: logical id → local bucket name. */
    readonly buckets: Map<string, string>,
    readonly notifications: LocalNotification[],
    readonly eventSources: LocalEventSource[],
  ) {}

  /** The fauxqs endpoint (SQS and S3, path-style). */
  get endpoint(): string {
    return this.server.address;
  }

  /** Starts fauxqs, creates the template's resources and starts the pollers and the S3 notifications. */
  static async start(opts: LocalEventsOptions): Promise<LocalEvents> {
    if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
    const server = await startFauxqs({
      port: opts.port ?? 0,
      logger: false,
      defaultRegion: opts.region,
      // The spy is how uploads are observed (fauxqs implements no bucket notifications); a large
      // buffer keeps upload events from being evicted by message events before they are routed.
      messageSpies: { bufferSize: 100_000 },
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    });
    const sqs = createSqsClient({ region: opts.region, sqsEndpoint: server.address });
    const s3 = createS3Client({ region: opts.region, s3Endpoint: server.address });
    try {
      const r = await createEventResources(sqs, s3, opts);
      const events = new LocalEvents(
        server,
        opts,
        sqs,
        s3,
        r.queues,
        r.buckets,
        r.notifications,
        r.eventSources,
      );
      events.startLoops();
      return events;
    } catch (error) {
      sqs.destroy();
      s3.destroy();
      await server.stop();
      throw error;
    }
  }

  /** The event source mapping of a function (by `PARL_FUNCTION`). */
  eventSourceOf(functionName: string): LocalEventSource | undefined {
    return this.eventSources.find((e) => e.functionName === functionName);
  }

  /** Messages waiting (`visible`, delayed included) and received but not deleted (`inFlight`). */
  depth(queue: LocalQueue): Promise<QueueDepth> {
    return queueDepth(this.sqs, queue.url);
  }

  /**
   * Resolves once every polled queue is empty (nothing visible, nothing in flight), no handler is
   * running and no upload awaits its notification; checks every `intervalMs`.
   */
  async drained(opts: { intervalMs?: number; onPoll?: () => void | Promise<void> } = {}): Promise<void> {
    for (;;) {
      await opts.onPoll?.();
      if (this.running === 0 && !this.pendingUpload()) {
        const depths = await Promise.all(this.eventSources.map((e) => this.depth(e.queue)));
        if (depths.every((d) => d.visible === 0 && d.inFlight === 0) && this.running === 0) return;
      }
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
    }
  }

  /** Stops polling (in-flight invocations finish first) and fauxqs. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Rejects the pending upload waiter, which ends the notification loop.
    this.server.spy.clear();
    await Promise.allSettled(this.loops);
    this.sqs.destroy();
    this.s3.destroy();
    await this.server.stop();
  }

  private startLoops(): void {
    if (this.notifications.length > 0) this.loops.push(this.routeUploads());
    for (const source of this.eventSources) {
      const handler = this.opts.handlers[source.functionName];
      if (!handler) continue;
      for (let i = 0; i < (this.opts.pollers ?? 2); i += 1) this.loops.push(this.poll(source, handler));
    }
  }

  private isUnhandledUpload = (m: SpyMessage): boolean =>
    m.service === 's3' && m.status === 'uploaded' && !this.handledUploads.has(m);

  private pendingUpload(): boolean {
    return (
      this.notifications.length > 0 &&
      this.server.spy.checkForMessage(this.isUnhandledUpload, 'uploaded') !== undefined
    );
  }

  /** S3 → SQS: every object created in a bucket with a matching notification becomes an event record on its queue. */
  private async routeUploads(): Promise<void> {
    while (!this.closed) {
      let upload: SpyMessage;
      try {
        upload = await this.server.spy.waitForMessage(this.isUnhandledUpload, 'uploaded');
      } catch {
        continue; // cleared on close
      }
      if (upload.service !== 's3') continue;
      this.running += 1;
      try {
        for (const n of this.notifications) {
          if (
            n.bucket !== upload.bucket ||
            !upload.key.startsWith(n.prefix) ||
            !upload.key.endsWith(n.suffix)
          )
            continue;
          await this.notify(n, upload.bucket, upload.key, upload.timestamp);
        }
      } catch (error) {
        process.stderr.write(
          `local S3 notification of ${upload.bucket}/${upload.key} failed: ${String(error)}\n`,
        );
      } finally {
        this.handledUploads.add(upload);
        this.running -= 1;
      }
    }
  }

  private async notify(n: LocalNotification, bucket: string, key: string, timestamp: number): Promise<void> {
    const head = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    this.sequence += 1;
    const sequencer = `${timestamp.toString(16).toUpperCase()}${String(this.sequence).padStart(8, '0')}`;
    const record = {
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: this.opts.region,
      eventTime: new Date(timestamp).toISOString(),
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'local' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': 'local', 'x-amz-id-2': 'local' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'local',
        bucket: { name: bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${bucket}` },
        object: {
          key: encodeS3EventKey(key),
          size: head.ContentLength ?? 0,
          eTag: (head.ETag ?? '').replace(/"/g, ''),
          sequencer,
        },
      },
    };
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: n.queue.url, MessageBody: JSON.stringify({ Records: [record] }) }),
    );
    this.stats.notificationsSent += 1;
  }

  /** One poller of an event source mapping: receive a batch, invoke, delete what succeeded. */
  private async poll(source: LocalEventSource, handler: LocalHandler): Promise<void> {
    while (!this.closed) {
      let messages: Message[];
      try {
        const out = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: source.queue.url,
            MaxNumberOfMessages: Math.min(source.batchSize, 10),
            WaitTimeSeconds: this.opts.waitTimeSeconds ?? 1,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (this.closed) return;
        process.stderr.write(`local SQS poll of ${source.queue.name} failed: ${String(error)}\n`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (messages.length === 0) continue;
      this.running += 1;
      try {
        await this.deliver(source, handler, messages);
      } finally {
        this.running -= 1;
      }
    }
  }

  private async deliver(source: LocalEventSource, handler: LocalHandler, messages: Message[]): Promise<void> {
    const records = messages.map((m) => toSqsRecord(m, source.queue.arn, this.opts.region));
    for (const r of records) this.deliveries.set(r.messageId, (this.deliveries.get(r.messageId) ?? 0) + 1);
    const event: SQSEvent = { Records: records };
    let failed: Set<string>;
    try {
      // Lambda passes JSON in and out; so does the local invocation.
      const result = await handler(structuredClone(event), this.opts.context(source.functionName));
      failed = failedMessageIds(
        JSON.parse(JSON.stringify(result ?? null)),
        records,
        source.reportBatchItemFailures,
      );
    } catch {
      // A thrown error fails the whole batch: nothing is deleted, every record returns after the visibility timeout.
      failed = new Set(records.map((r) => r.messageId));
    }
    this.stats.batches += 1;
    this.stats.recordsDelivered += records.length;
    this.stats.recordsFailed += failed.size;
    const done = records.filter((r) => !failed.has(r.messageId));
    if (done.length === 0) return;
    await this.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: source.queue.url,
        Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );
    this.stats.recordsDeleted += done.length;
  }
}
