import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planSubmission } from '#cli/commands/batch/parse';
import { sendSubmission } from '#cli/commands/batch/send';
import { createBatchHandler } from '#lambdas/batch/handler';
import { lambdaContext } from '#local/lambda-context';
import { EmbeddedStack } from '#local/runtime';
import { createS3Client } from '#shared/adapters/aws/clients';
import { S3ObjectReader } from '#shared/adapters/aws/s3-object-reader';
import { readBatchStatus } from '#shared/adapters/aws/sqs';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { batchIdempotencyKey, SubmissionInProgressError } from '#shared/domain/batch';
import { jobIdForKey, requestHash } from '#shared/domain/idempotency';
import { parseJobRequest } from '#shared/domain/request';
import { type Tenant, usagePeriod } from '#shared/domain/tenant';
import type { JobRef } from '#shared/ports/job-store';
import { allItems } from '#shared/ports/paging';
import type { WorkflowStarter } from '#shared/ports/workflow';
import {
  type AcceptJobDeps,
  acceptJob,
  DEFAULT_START_WAIT,
  type StartWait,
} from '#shared/use-cases/accept-job';
import { createTenant } from '#shared/use-cases/tenants';

const request = (n = 2) => ({
  task: 'Do the sums',
  subtasks: Array.from({ length: n }, (_, i) => ({
    prompt: `What is ${i} + ${i}?`,
    expected: String(2 * i),
  })),
});

describe('the batch intake on fauxqs', () => {
  let stack: EmbeddedStack;
  const batch = () => {
    if (!stack.batch) throw new Error('the stack has no batch intake');
    return stack.batch;
  };

  /** A new ACTIVE tenant with a budget, as `parl tenants create` makes one. */
  async function newTenant(name: string, budgetUsd = 50): Promise<string> {
    const { tenant } = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: stack.config.maxSubagentsCap },
      { name, budgetUsd, maxSubagents: stack.config.maxSubagentsCap },
    );
    return tenant.tenantId;
  }

  async function tenantNow(tenantId: string): Promise<Tenant> {
    const tenant = await stack.tenants.getTenant(tenantId);
    if (!tenant) throw new Error(`no tenant ${tenantId}`);
    return tenant;
  }

  /** What `GET /v1/usage` reports for the tenant this month: its settled jobs' usage records. */
  const usageOf = (tenantId: string) => stack.ledger.usage(tenantId, usagePeriod(new Date().toISOString()));

  /** One job's money, once it has ended: one usage record, charged once, nothing left held. */
  async function expectChargedOnce(tenantId: string, budgetUsd: number): Promise<void> {
    const usage = await usageOf(tenantId);
    const tenant = await tenantNow(tenantId);
    expect(usage.jobs).toBe(1);
    expect(usage.costUsd).toBeGreaterThan(0);
    expect(tenant.spentUsd).toBeCloseTo(usage.costUsd, 6);
    expect(tenant.reservedUsd).toBeCloseTo(0, 6);
    expect(tenant.availableUsd).toBeCloseTo(budgetUsd - usage.costUsd, 6);
  }

  /** The jobs stored for a tenant (the tenant's job listing: one record per accepted job). */
  async function jobsOf(tenantId: string): Promise<string[]> {
    const jobs: string[] = [];
    for await (const job of allItems((cursor) => stack.store.listJobs(tenantId, cursor ? { cursor } : {}))) {
      jobs.push(job.jobId);
    }
    return jobs;
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

  /** A starter over the stack that records each start. */
  function countingStarter(): { starter: WorkflowStarter; starts: JobRef[] } {
    const starts: JobRef[] = [];
    return {
      starts,
      starter: {
        start: (ref) => {
          starts.push(ref);
          return stack.start(ref);
        },
      },
    };
  }

  /** The intake's job acceptance over the stack, with the given starter and duplicate wait. */
  const acceptDeps = (starter: WorkflowStarter, startWait: Partial<StartWait> = {}): AcceptJobDeps => ({
    tenants: stack.tenants,
    store: stack.store,
    workflow: starter,
    ledger: stack.ledger,
    idempotency: stack.idempotency,
    config: stack.config,
    startWait: { ...DEFAULT_START_WAIT, ...startWait },
  });

  /** The batch handler with the intake's deps (tenant store, ledger), its starts counted, for deliveries made by hand. */
  function countingHandler() {
    const { starter, starts } = countingStarter();
    const handler = createBatchHandler(
      () =>
        Promise.resolve({
          ...acceptDeps(starter),
          objects: new S3ObjectReader(
            createS3Client({ region: 'us-east-1', s3Endpoint: batch().events.endpoint }),
          ),
        }),
      createLogger('SILENT'),
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
    stack = await EmbeddedStack.boot({
      simulator: { seed: 4, latencyScale: 0 },
      batch: {
        // Short, so a failing record returns (and a poison one reaches the DLQ) in seconds.
        visibilityTimeoutSeconds: 2,
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("listens on loopback only: fauxqs is not reachable on the machine's other addresses", async () => {
    const endpoint = new URL(batch().events.endpoint);
    expect(endpoint.hostname).toBe('127.0.0.1');
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal)
      .map((a) => a?.address as string);
    for (const address of others) {
      const refused = await new Promise<string>((resolve) => {
        const socket = connect({ host: address, port: Number(endpoint.port) });
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect(refused, `${address}:${endpoint.port}`).toBe('ECONNREFUSED');
    }
  });

  it('starts one job for the same message delivered twice, one after the other: one usage record, one debit', async () => {
    // Prepare
    const tenantId = await newTenant('sequential');
    const { handler, starts } = countingHandler();
    const event = { Records: [sqsRecord('m-seq-1', { tenantId, request: request() })] };
    // Act
    const first = await handler(event, ctx());
    const heldAfterFirst = (await tenantNow(tenantId)).reservedUsd;
    const second = await handler(event, ctx());
    const heldAfterSecond = (await tenantNow(tenantId)).reservedUsd;
    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
    expect(starts).toHaveLength(1);
    expect(await jobsOf(tenantId)).toEqual([starts[0]?.jobId]);
    expect(heldAfterFirst).toBeGreaterThan(0);
    expect(heldAfterSecond).toBe(heldAfterFirst);
    expect((await stack.wait(starts[0]!)).job.status).toBe('SUCCEEDED');
    await expectChargedOnce(tenantId, 50);
  });

  it('starts one job for the same message delivered twice at once: one usage record, one debit', async () => {
    // Prepare
    const tenantId = await newTenant('concurrent');
    const { handler, starts } = countingHandler();
    const record = sqsRecord('m-conc-1', { tenantId, request: request() });
    // Act: two invocations at once, and one batch holding the message twice
    const results = await Promise.all([
      handler({ Records: [record] }, ctx()),
      handler({ Records: [record] }, ctx()),
      handler({ Records: [record, { ...record, receiptHandle: 'rh-again' }] }, ctx()),
    ]);
    // Assess
    expect(results.flatMap((r) => r.batchItemFailures)).toEqual([]);
    expect(starts).toHaveLength(1);
    expect(await jobsOf(tenantId)).toHaveLength(1);
    expect((await stack.wait(starts[0]!)).job.status).toBe('SUCCEEDED');
    await expectChargedOnce(tenantId, 50);
  });

  it('starts one job for two messages with the same idempotency key through the queue, sent apart and together', async () => {
    // Prepare
    const apart = await newTenant('apart');
    const together = await newTenant('together');
    const before = batch().startCalls;
    const apiStartsBefore = stack.sfnServer?.requests.StartExecution ?? 0;
    const body = (tenantId: string) => ({
      tenantId,
      request: request(),
      idempotencyKey: 'nightly-2026-11-29',
    });
    // Act
    await send([body(apart)]);
    await settle();
    await send([body(apart)]);
    await send([body(together), body(together)]);
    await settle();
    // Assess
    expect(await jobsOf(apart)).toEqual([jobIdForKey(apart, batchIdempotencyKey('nightly-2026-11-29'))]);
    expect(await jobsOf(together)).toHaveLength(1);
    expect(batch().startCalls - before).toBe(2);
    // As in the cloud, the batch function starts its jobs through the Step Functions API.
    expect((stack.sfnServer?.requests.StartExecution ?? 0) - apiStartsBefore).toBe(2);
    await expectChargedOnce(apart, 50);
    await expectChargedOnce(together, 50);
    expect(await batch().status()).toMatchObject({ queueDepth: 0, inFlight: 0, dlqDepth: 0 });
  });

  it('starts 9 jobs from a batch of 10 with one poison message, which reaches the DLQ after 3 receives', async () => {
    // Prepare
    const tenantId = await newTenant('nine');
    const bodies: unknown[] = Array.from({ length: 9 }, () => ({ tenantId, request: request(1) }));
    bodies.splice(4, 0, { tenantId: 't-nobody000000', request: request(1) });
    const before = await batch().status();
    const dlqBefore = before.dlqDepth;
    // Act
    const ids = await send(bodies);
    await settle();
    // Assess
    expect(ids).toHaveLength(10);
    const poisonId = ids[4]!;
    expect(await jobsOf(tenantId)).toHaveLength(9);
    expect(await jobsOf('t-nobody000000')).toHaveLength(0);
    expect(batch().events.deliveries.get(poisonId)).toBe(3);
    // At least once: a slow batch may outlive the visibility timeout and come back; it is then a duplicate.
    for (const id of ids.filter((i) => i !== poisonId)) {
      expect(batch().events.deliveries.get(id)).toBeGreaterThanOrEqual(1);
    }
    expect((await usageOf(tenantId)).jobs).toBe(9);
    const dlq = await batch().events.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: batch().deadLetterQueue!.url, MaxNumberOfMessages: 10 }),
    );
    expect(dlq.Messages?.map((m) => m.MessageId)).toEqual([poisonId]);
    expect(JSON.parse(dlq.Messages?.[0]?.Body ?? '{}')).toMatchObject({ tenantId: 't-nobody000000' });
    const endpoints = {
      sqs: batch().events.sqs,
      queueUrl: batch().queue.url,
      deadLetterQueueUrl: batch().deadLetterQueue!.url,
    };
    // The DLQ message just received is in flight there; status counts it either way.
    expect(await readBatchStatus(endpoints, 0)).toMatchObject({
      queueDepth: 0,
      inFlight: 0,
      dlqDepth: dlqBefore + 1,
    });
    // The intake counted 9 more workflow starts: one execution for each of the tenant's jobs
    const jobs = await Promise.all(
      (await jobsOf(tenantId)).map((jobId) => stack.store.getJob({ tenantId, jobId })),
    );
    expect(new Set(jobs.map((j) => j?.executionId).filter(Boolean)).size).toBe(9);
    expect(batch().startedJobs.filter((j) => j.tenantId === tenantId)).toHaveLength(9);
    expect(await batch().status()).toEqual({
      queueDepth: 0,
      inFlight: 0,
      dlqDepth: dlqBefore + 1,
      jobsStarted: before.jobsStarted + 9,
    });
  });

  it('fails only the record of a job its budget cannot cover, until it reaches the DLQ; the tenant keeps its money', async () => {
    // Prepare
    const poor = await newTenant('poor', 0);
    const rich = await newTenant('rich');
    const dlqBefore = (await batch().status()).dlqDepth;
    // Act
    const ids = await send([
      { tenantId: poor, request: request(50) },
      { tenantId: rich, request: request(1) },
    ]);
    await settle();
    // Assess
    expect(batch().events.deliveries.get(ids[0]!)).toBe(3);
    expect(await jobsOf(poor)).toHaveLength(0);
    expect(await tenantNow(poor)).toMatchObject({ availableUsd: 0, reservedUsd: 0, spentUsd: 0 });
    expect(await jobsOf(rich)).toHaveLength(1);
    expect((await batch().status()).dlqDepth).toBe(dlqBefore + 1);
  });

  it('starts a job its first delivery stored but never started, once the grace period is over', async () => {
    // Prepare: what acceptJob leaves behind when its Lambda dies between storing and starting the job
    const tenantId = await newTenant('crashed');
    const req = parseJobRequest(request(1), { maxSubagentsCap: 1000 });
    const storedNotStarted = async (key: string, acceptedAt: Date) => {
      const ref = { tenantId, jobId: jobIdForKey(tenantId, key) };
      await stack.idempotency.claim(tenantId, key, { jobId: ref.jobId, requestHash: requestHash(req) });
      await stack.ledger.reserve(ref, 0.01);
      const { subtasks, dataset: _none, ...rest } = req;
      await stack.store.createJob(
        {
          ...ref,
          status: 'ACCEPTED',
          request: rest,
          acceptedAt: acceptedAt.toISOString(),
          idempotencyKey: key,
        },
        subtasks ?? [],
      );
      return ref.jobId;
    };
    const jobId = await storedNotStarted('crashed', new Date(Date.now() - 120_000));
    const { starter, starts } = countingStarter();
    // Act
    const again = await acceptJob(acceptDeps(starter, { startGraceMs: 60_000 }), {
      tenantId,
      request: req,
      idempotencyKey: 'crashed',
    });
    // Assess
    expect(again).toMatchObject({ duplicate: true, job: { jobId } });
    expect(again.job.executionId).toContain(jobId);
    expect(starts.map((r) => r.jobId)).toEqual([jobId]);
    expect((await stack.wait({ tenantId, jobId })).job.status).toBe('SUCCEEDED');
    await expectChargedOnce(tenantId, 50);

    // Prepare: a fresh job still being started by another delivery
    const freshId = await storedNotStarted('starting', new Date());
    // Act / Assess: the duplicate gives up for now (the record is retried), and starts nothing
    await expect(
      acceptJob(acceptDeps(starter, { waitForStartMs: 100 }), {
        tenantId,
        request: req,
        idempotencyKey: 'starting',
      }),
    ).rejects.toBeInstanceOf(SubmissionInProgressError);
    expect(starts).toHaveLength(1);
    await stack.store.finishJob(
      { tenantId, jobId: freshId },
      { status: 'CANCELLED', finishedAt: new Date().toISOString() },
    );
  });

  it('deletes nothing of a batch whose every record fails', async () => {
    // Prepare
    const tenantId = await newTenant('allfail');
    const { handler, starts } = countingHandler();
    const event = {
      Records: [
        { ...sqsRecord('bad-1', {}), body: 'not json' },
        sqsRecord('bad-2', { tenantId: 't-nobody000000', request: request() }),
        sqsRecord('bad-3', { tenantId, request: { task: '' } }),
      ],
    };
    // Act / Assess: the handler throws, so Lambda (and the local poller) deletes nothing
    await expect(handler(event, ctx())).rejects.toBeInstanceOf(FullBatchFailureError);
    expect(starts).toHaveLength(0);

    // Prepare: the same through the queue
    const deletedBefore = batch().events.stats.recordsDeleted;
    const dlqBefore = (await batch().status()).dlqDepth;
    const ids = await send(event.Records.map((r) => r.body));
    // Act
    await settle();
    // Assess: every record was received three times, none deleted, all in the DLQ
    expect(batch().events.stats.recordsDeleted).toBe(deletedBefore);
    for (const id of ids) expect(batch().events.deliveries.get(id)).toBe(3);
    expect((await batch().status()).dlqDepth).toBe(dlqBefore + 3);
    expect(await jobsOf(tenantId)).toHaveLength(0);
  });

  it('takes a CSV that `parl batch submit` uploads as one job', async () => {
    // Prepare
    const tenantId = await newTenant('csv');
    const submission = planSubmission(
      'checks.csv',
      'id,prompt,expected\nq1,"What is 2 + 2, exactly?",4\nq2,What is 3 + 3?,6\n',
      { tenantId },
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
    expect(sent.upload).toEqual({ bucket: batch().bucket, key: `incoming/${tenantId}/checks.csv` });
    const started = batch().startedJobs.slice(before);
    expect(started).toHaveLength(1);
    expect(await stack.store.listSubtasks(started[0]!)).toEqual([
      { id: 'q1', prompt: 'What is 2 + 2, exactly?', expected: '4' },
      { id: 'q2', prompt: 'What is 3 + 3?', expected: '6' },
    ]);
    await expectChargedOnce(tenantId, 50);
  });

  it('turns a 1,000-subtask upload under incoming/<tenant>/ into one job whose steps cover every subtask', async () => {
    // Prepare
    const tenantId = await newTenant('big', 500);
    const lines = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ id: `q${i}`, prompt: `What is ${i} + 1?`, expected: String(i + 1) }),
    );
    const before = batch().startedJobs.length;
    // Act
    await batch().events.s3.send(
      new PutObjectCommand({
        Bucket: batch().bucket,
        Key: `incoming/${tenantId}/checks.jsonl`,
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
    expect(await jobsOf(tenantId)).toHaveLength(1);
    await expectChargedOnce(tenantId, 500);
  }, 300_000);
});
