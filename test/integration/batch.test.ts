import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planSubmission, readBatchStatus, sendSubmission } from '#cdk/local/commands/batch';
import { LocalStack, lambdaContext } from '#cdk/local/runtime';
import { createBatchHandler } from '#lambdas/batch/handler';
import { createS3Client } from '#shared/adapters/batch-deps';
import { createDynamoDocumentClient } from '#shared/adapters/clients';
import { keys } from '#shared/adapters/keys';
import { S3ObjectReader } from '#shared/adapters/s3-object-reader';
import { StaticTenantDirectory, StoreJobSubmitter } from '#shared/adapters/store-job-submitter';
import { idempotentJobId, SubmissionInProgressError } from '#shared/domain/batch';
import { parseJobRequest } from '#shared/domain/request';
import type { JobRef } from '#shared/ports/job-store';
import type { WorkflowStarter } from '#shared/ports/workflow';

const request = (n = 2) => ({
  task: 'Do the sums',
  subtasks: Array.from({ length: n }, (_, i) => ({
    prompt: `What is ${i} + ${i}?`,
    expected: String(2 * i),
  })),
});

describe('the batch intake on fauxqs', () => {
  let stack: LocalStack;
  const batch = () => {
    if (!stack.batch) throw new Error('the stack has no batch intake');
    return stack.batch;
  };

  /** The jobs stored for a tenant (the tenant's job listing: one record per accepted job). */
  async function jobsOf(tenantId: string): Promise<string[]> {
    const client = createDynamoDocumentClient(stack.config);
    const out = await client.send(
      new QueryCommand({
        TableName: stack.config.tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.tenantJobsPk(tenantId) },
      }),
    );
    return (out.Items ?? []).map((i) => String(i.jobId));
  }

  async function send(tenantBodies: unknown[]): Promise<string[]> {
    const out = await batch().events.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: batch().queue.url,
        Entries: tenantBodies.map((b, i) => ({
          Id: String(i),
          MessageBody: typeof b === 'string' ? b : JSON.stringify(b),
        })),
      }),
    );
    return (out.Successful ?? []).map((s) => s.MessageId ?? '');
  }

  async function settle(): Promise<void> {
    await batch().events.drained();
    await Promise.all(batch().startedJobs.map((j) => stack.wait(j)));
  }

  /** A batch handler over the stack's store whose starter counts its calls, for deliveries made by hand. */
  function countingHandler(tenants: string[]) {
    const starts: JobRef[] = [];
    const starter: WorkflowStarter = {
      start: (ref) => {
        starts.push(ref);
        return stack.start(ref);
      },
    };
    const handler = createBatchHandler(() =>
      Promise.resolve({
        submitter: new StoreJobSubmitter(stack.store, starter),
        tenants: new StaticTenantDirectory(tenants),
        objects: new S3ObjectReader(
          createS3Client({ region: 'us-east-1', s3Endpoint: batch().events.endpoint }),
        ),
        config: stack.config,
      }),
    ) as unknown as (
      event: SQSEvent,
      context: Context,
    ) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
    return { handler, starts };
  }

  const sqsRecord = (messageId: string, body: unknown): SQSRecord => ({
    messageId,
    receiptHandle: `rh-${messageId}`,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: batch().queue.arn,
    awsRegion: 'us-east-1',
  });
  const ctx = () => lambdaContext('batch', 60, 512);

  beforeAll(async () => {
    stack = await LocalStack.start({
      simulator: { seed: 4, latencyScale: 0 },
      batch: {
        tenants: ['seq', 'conc', 'hand', 'poison', 'allfail', 'big'],
        // Short, so a failing record returns (and a poison one reaches the DLQ) in seconds.
        visibilityTimeoutSeconds: 2,
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('starts one job for the same message delivered twice, one after the other', async () => {
    // Prepare
    const { handler, starts } = countingHandler(['hand']);
    const event = { Records: [sqsRecord('m-seq-1', { tenantId: 'hand', request: request() })] };
    // Act
    const first = await handler(event, ctx());
    const second = await handler(event, ctx());
    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
    expect(starts).toHaveLength(1);
    expect(await jobsOf('hand')).toHaveLength(1);
    await stack.wait(starts[0]!);
  });

  it('starts one job for the same message delivered twice at once', async () => {
    // Prepare
    const { handler, starts } = countingHandler(['hand']);
    const record = sqsRecord('m-conc-1', { tenantId: 'hand', request: request() });
    // Act: two invocations at once, and one batch holding the message twice
    const results = await Promise.all([
      handler({ Records: [record] }, ctx()),
      handler({ Records: [record] }, ctx()),
      handler({ Records: [record, { ...record, receiptHandle: 'rh-again' }] }, ctx()),
    ]);
    // Assess
    expect(results.flatMap((r) => r.batchItemFailures)).toEqual([]);
    expect(starts).toHaveLength(1);
    expect(await jobsOf('hand')).toHaveLength(2); // this one and the previous test's
    await stack.wait(starts[0]!);
  });

  it('starts one job for two messages with the same idempotency key through the queue, sent apart and together', async () => {
    // Prepare
    const before = batch().startCalls;
    const body = (tenantId: string) => ({ tenantId, request: request(), idempotencyKey: `key-${tenantId}` });
    // Act
    await send([body('seq')]);
    await settle();
    await send([body('seq')]);
    await send([body('conc'), body('conc')]);
    await settle();
    // Assess
    expect(await jobsOf('seq')).toHaveLength(1);
    expect(await jobsOf('conc')).toHaveLength(1);
    expect(batch().startCalls - before).toBe(2);
    expect(await batch().status()).toMatchObject({ queueDepth: 0, inFlight: 0, dlqDepth: 0 });
  });

  it('starts 9 jobs from a batch of 10 with one poison message, which reaches the DLQ after 3 receives', async () => {
    // Prepare
    const bodies: unknown[] = Array.from({ length: 9 }, () => ({ tenantId: 'poison', request: request(1) }));
    bodies.splice(4, 0, { tenantId: 'nobody', request: request(1) });
    // Act
    const ids = await send(bodies);
    await settle();
    // Assess
    expect(ids).toHaveLength(10);
    const poisonId = ids[4]!;
    expect(await jobsOf('poison')).toHaveLength(9);
    expect(await jobsOf('nobody')).toHaveLength(0);
    expect(batch().events.deliveries.get(poisonId)).toBe(3);
    // At least once: a slow batch may outlive the visibility timeout and come back; it is then a duplicate.
    for (const id of ids.filter((i) => i !== poisonId)) {
      expect(batch().events.deliveries.get(id)).toBeGreaterThanOrEqual(1);
    }
    const dlq = await batch().events.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: batch().deadLetterQueue!.url, MaxNumberOfMessages: 10 }),
    );
    expect(dlq.Messages?.map((m) => m.MessageId)).toEqual([poisonId]);
    expect(JSON.parse(dlq.Messages?.[0]?.Body ?? '{}')).toMatchObject({ tenantId: 'nobody' });
    const endpoints = {
      sqs: batch().events.sqs,
      queueUrl: batch().queue.url,
      deadLetterQueueUrl: batch().deadLetterQueue!.url,
    };
    // The DLQ message just received is in flight there; status counts it either way.
    expect(await readBatchStatus(endpoints, 7)).toEqual({
      queueDepth: 0,
      inFlight: 0,
      dlqDepth: 1,
      jobsStarted: 7,
    });
    expect(await batch().status()).toMatchObject({ queueDepth: 0, inFlight: 0, dlqDepth: 1 });
  });

  it('starts a job its first delivery stored but never started, once the grace period is over', async () => {
    // Prepare: what a delivery that died between storing and starting the job leaves behind
    const jobId = idempotentJobId('hand', 'crashed');
    const accepted = {
      tenantId: 'hand',
      jobId,
      status: 'ACCEPTED' as const,
      request: { task: 'x', workload: 'generic' as const, mode: 'parl' as const },
    };
    await stack.store.createJob({ ...accepted, acceptedAt: new Date(Date.now() - 120_000).toISOString() }, [
      { id: 'S-0001', prompt: 'What is 1 + 1?' },
    ]);
    const starts: JobRef[] = [];
    const starter: WorkflowStarter = {
      start: (ref) => {
        starts.push(ref);
        return stack.start(ref);
      },
    };
    const submitter = new StoreJobSubmitter(stack.store, starter, { startGraceMs: 60_000 });
    const req = parseJobRequest(request(1), { maxSubagentsCap: 1000 });
    // Act
    const again = await submitter.submit({ tenantId: 'hand', request: req, idempotencyKey: 'crashed' });
    // Assess
    expect(again).toMatchObject({ duplicate: true, job: { jobId } });
    expect(again.job.executionId).toContain(jobId);
    expect(starts.map((r) => r.jobId)).toEqual([jobId]);
    expect((await stack.wait({ tenantId: 'hand', jobId })).job.status).toBe('SUCCEEDED');

    // Prepare: a fresh job still being started by another delivery
    const freshId = idempotentJobId('hand', 'starting');
    await stack.store.createJob({ ...accepted, jobId: freshId, acceptedAt: new Date().toISOString() }, []);
    const impatient = new StoreJobSubmitter(stack.store, starter, { waitForStartMs: 100 });
    // Act / Assess: the duplicate gives up for now (the record is retried), and starts nothing
    await expect(
      impatient.submit({ tenantId: 'hand', request: req, idempotencyKey: 'starting' }),
    ).rejects.toBeInstanceOf(SubmissionInProgressError);
    expect(starts).toHaveLength(1);
    await stack.store.finishJob(
      { tenantId: 'hand', jobId: freshId },
      { status: 'CANCELLED', finishedAt: new Date().toISOString() },
    );
  });

  it('deletes nothing of a batch whose every record fails', async () => {
    // Prepare
    const { handler, starts } = countingHandler(['allfail']);
    const event = {
      Records: [
        { ...sqsRecord('bad-1', {}), body: 'not json' },
        sqsRecord('bad-2', { tenantId: 'nobody', request: request() }),
        sqsRecord('bad-3', { tenantId: 'allfail', request: { task: '' } }),
      ],
    };
    // Act / Assess: the handler throws, so Lambda (and the local poller) deletes nothing
    await expect(handler(event, ctx())).rejects.toBeInstanceOf(FullBatchFailureError);
    expect(starts).toHaveLength(0);

    // Prepare: the same through the queue
    const deletedBefore = batch().events.stats.recordsDeleted;
    const ids = await send(event.Records.map((r) => r.body));
    // Act
    await settle();
    // Assess: every record was received three times, none deleted, all in the DLQ
    expect(batch().events.stats.recordsDeleted).toBe(deletedBefore);
    for (const id of ids) expect(batch().events.deliveries.get(id)).toBe(3);
    expect((await batch().status()).dlqDepth).toBeGreaterThanOrEqual(3);
    expect(await jobsOf('allfail')).toHaveLength(0);
  });

  it('takes a CSV that `parl batch submit` uploads as one job', async () => {
    // Prepare
    const submission = planSubmission(
      'checks.csv',
      'id,prompt,expected\nq1,"What is 2 + 2, exactly?",4\nq2,What is 3 + 3?,6\n',
      {
        tenantId: 'hand',
      },
    );
    const before = batch().startedJobs.length;
    // Act
    const sent = await sendSubmission(
      {
        sqs: batch().events.sqs,
        queueUrl: batch().queue.url,
        s3: batch().events.s3,
        bucket: batch().bucket!,
      },
      submission,
    );
    await settle();
    // Assess
    expect(sent.upload).toEqual({ bucket: batch().bucket, key: 'incoming/hand/checks.csv' });
    const started = batch().startedJobs.slice(before);
    expect(started).toHaveLength(1);
    expect(await stack.store.listSubtasks(started[0]!)).toEqual([
      { id: 'q1', prompt: 'What is 2 + 2, exactly?', expected: '4' },
      { id: 'q2', prompt: 'What is 3 + 3?', expected: '6' },
    ]);
  });

  it('turns a 1,000-subtask upload under incoming/<tenant>/ into one job whose steps cover every subtask', async () => {
    // Prepare
    const lines = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ id: `q${i}`, prompt: `What is ${i} + 1?`, expected: String(i + 1) }),
    );
    const before = batch().startedJobs.length;
    // Act
    await batch().events.s3.send(
      new PutObjectCommand({
        Bucket: batch().bucket,
        Key: 'incoming/big/checks.jsonl',
        Body: lines.join('\n'),
      }),
    );
    await settle();
    // Assess
    const started = batch().startedJobs.slice(before);
    expect(started).toHaveLength(1);
    const { job, steps } = await stack.wait(started[0]!);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.plan).toMatchObject({ subtasks: 1000, agents: 1000, mapMode: 'DISTRIBUTED' });
    const results = await stack.store.listResults(started[0]!);
    expect(new Set(results.map((r) => r.subtaskId))).toEqual(
      new Set(Array.from({ length: 1000 }, (_, i) => `q${i}`)),
    );
    const agents = await stack.store.listAgents(started[0]!);
    expect(new Set(agents.flatMap((a) => a.subtaskIds)).size).toBe(1000);
    const subAgentsWithSteps = new Set(steps.filter((s) => s.role === 'sub').map((s) => s.agentId));
    expect(subAgentsWithSteps.size).toBe(1000);
    expect(await jobsOf('big')).toHaveLength(1);
  }, 300_000);
});
