import { randomUUID } from 'node:crypto';
import { ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { leaseRefill, REFILL_LEASE_MS, refillUnderWay } from '#shared/adapters/dynamo/budget-refill';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import type { StepRecord } from '#shared/domain/types';
import type { JobRecord, JobRef } from '#shared/ports/job-store';
import { useDynaliteTable, watchedClient } from './dynalite-table';

const freshRef = (): JobRef => ({ tenantId: `t-${randomUUID()}`, jobId: `job-${randomUUID()}` });

const jobOf = (ref: JobRef): JobRecord => ({
  ...ref,
  status: 'ACCEPTED',
  request: { task: 'task', workload: 'generic', mode: 'parl' },
  acceptedAt: '2026-01-01T00:00:00.000Z',
});

/** Step `n` of sub-agent `agentId` in stage 1, made by invocation `attempt`. */
const stepOf = (agentId: string, n: number, attempt: number): StepRecord => ({
  stage: 1,
  role: 'sub',
  agentId,
  step: n,
  attempt,
  startedAt: '2026-12-01T00:00:00.000Z',
  endedAt: '2026-12-01T00:00:01.000Z',
  durationMs: 10,
  inputTokens: 1,
  outputTokens: 1,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
});

/** The job store's edges: fields left undefined, empty changes, missing items, a failing table. */
describe('DynamoJobStore edges on dynalite', () => {
  const db = useDynaliteTable();
  let store: DynamoJobStore;

  beforeAll(() => {
    store = new DynamoJobStore(db.doc, db.tableName);
  });

  it('passes on a failure to store a job that is not a duplicate, not reporting it as one', async () => {
    // Prepare: the table refuses the job's write
    const { client } = watchedClient(db.doc, (command) => {
      if (command instanceof PutCommand) throw new Error('throughput exceeded');
    });
    const failing = new DynamoJobStore(client, db.tableName);
    // Act
    const creating = failing.createJob(jobOf(freshRef()), []);
    // Assess
    await expect(creating).rejects.toThrow('throughput exceeded');
  });

  it('stores many subtasks in batches of 25, four on their way at once', async () => {
    // Prepare: count the BatchWriteItems in flight
    let flying = 0;
    let most = 0;
    const { client, sent } = watchedClient(db.doc, async (command) => {
      if (!(command instanceof BatchWriteCommand)) return;
      flying += 1;
      most = Math.max(most, flying);
      await new Promise((resolve) => setTimeout(resolve, 5));
      flying -= 1;
    });
    const ref = freshRef();
    const subtasks = Array.from({ length: 260 }, (_, i) => ({ id: `s${i}`, prompt: `question ${i}` }));
    // Act
    await new DynamoJobStore(client, db.tableName).createJob(jobOf(ref), subtasks);
    // Assess: 11 batches, at most four at once (and more than one), every subtask stored
    expect(sent.filter((c) => c instanceof BatchWriteCommand)).toHaveLength(11);
    expect(most).toBe(4);
    expect((await store.listSubtasks(ref)).map((s) => s.id).sort()).toEqual(subtasks.map((s) => s.id).sort());
  });

  it('sends no further batch after one failed, and stores no job', async () => {
    // Prepare: the second batch fails
    const { client, sent } = watchedClient(db.doc, (command, index) => {
      if (command instanceof BatchWriteCommand && index === 1) throw new Error('throughput exceeded');
    });
    const ref = freshRef();
    const subtasks = Array.from({ length: 500 }, (_, i) => ({ id: `s${i}`, prompt: `question ${i}` }));
    // Act
    const creating = new DynamoJobStore(client, db.tableName).createJob(jobOf(ref), subtasks);
    // Assess: the four lanes' first batches went; none after the failure; no job item
    await expect(creating).rejects.toThrow('throughput exceeded');
    expect(sent.filter((c) => c instanceof BatchWriteCommand).length).toBeLessThanOrEqual(5);
    expect(await store.getJob(ref)).toBeUndefined();
  });

  it('updates a job with the fields given, leaving out those given as undefined', async () => {
    // Prepare
    const ref = freshRef();
    await store.createJob(jobOf(ref), []);
    // Act
    await store.updateJob(ref, { status: 'RUNNING', error: undefined });
    // Assess
    const job = await store.getJob(ref);
    expect(job?.status).toBe('RUNNING');
    expect(job).not.toHaveProperty('error');
  });

  it('sends nothing for an update without fields', async () => {
    // Prepare
    const ref = freshRef();
    await store.createJob(jobOf(ref), []);
    const { client, sent } = watchedClient(db.doc);
    // Act
    await new DynamoJobStore(client, db.tableName).updateJob(ref, { error: undefined });
    // Assess
    expect(sent.filter((c) => c instanceof UpdateCommand)).toHaveLength(0);
    expect((await store.getJob(ref))?.status).toBe('ACCEPTED');
  });

  it('finishes a job with the fields given, leaving out those given as undefined', async () => {
    // Prepare
    const ref = freshRef();
    await store.createJob(jobOf(ref), []);
    // Act
    const finished = await store.finishJob(ref, {
      status: 'SUCCEEDED',
      finishedAt: '2026-01-01T00:01:00.000Z',
      error: undefined,
    });
    // Assess
    expect(finished).toBe(true);
    const job = await store.getJob(ref);
    expect(job?.status).toBe('SUCCEEDED');
    expect(job?.finishedAt).toBe('2026-01-01T00:01:00.000Z');
    expect(job).not.toHaveProperty('error');
  });

  it('answers undefined for a dataset item the job does not have', async () => {
    // Act
    const item = await store.getDatasetItem(freshRef(), 'installations', 'no-such-id');
    // Assess
    expect(item).toBeUndefined();
  });

  it('reads back the dataset items and subtasks it stored, and those stored attribute by attribute before', async () => {
    // Prepare: a job with an installation (nested fields) and two subtasks; one more of each stored the old way
    const ref = freshRef();
    const pk = `TENANT#${ref.tenantId}#JOB#${ref.jobId}`;
    const installation = { id: 'i1', site: { city: 'Oslo', floors: [1, 2] }, detectors: 12, note: '' };
    const subtasks = [
      { id: 's1', prompt: 'p1', expected: '1' },
      { id: 's2', prompt: 'p2' },
    ];
    await store.createJob(jobOf(ref), subtasks, { installations: [installation] });
    const old = { id: 'i0', site: { city: 'Bergen' }, detectors: 3 };
    await db.doc.send(
      new PutCommand({ TableName: db.tableName, Item: { pk, sk: 'DATA#installations#i0', record: old } }),
    );
    await db.doc.send(
      new PutCommand({ TableName: db.tableName, Item: { pk, sk: 'SUBTASK#s0', id: 's0', prompt: 'p0' } }),
    );
    // Act + Assess
    expect(await store.getDatasetItem(ref, 'installations', 'i1')).toEqual(installation);
    expect(await store.getDatasetItem(ref, 'installations', 'i0')).toEqual(old);
    expect(await store.listSubtasks(ref)).toEqual([{ id: 's0', prompt: 'p0' }, ...subtasks]);
    const { job, subtasks: read } = await store.getJobAndSubtasks(ref, ['s2', 's0']);
    expect(job?.jobId).toBe(ref.jobId);
    expect(read).toEqual([subtasks[1], { id: 's0', prompt: 'p0' }]);
  });

  it('searches every status when the criteria list none', async () => {
    // Prepare: two jobs of one batch, one of them running
    const prefix = `batch-${randomUUID()}`;
    const [a, b] = [freshRef(), freshRef()];
    await store.createJob({ ...jobOf(a), idempotencyKey: `${prefix}-1` }, []);
    await store.createJob({ ...jobOf(b), idempotencyKey: `${prefix}-2` }, []);
    await store.updateJob(b, { status: 'RUNNING' });
    const search = new DynamoJobSearch(db.doc, db.tableName);
    // Act
    const count = await search.countJobs({ idempotencyKeyPrefix: prefix, statuses: [] });
    // Assess
    expect(count).toBe(2);
  });

  describe('budget refills', () => {
    it('leases a refill until the lease time has passed, and no one else takes it before', async () => {
      // Prepare: a budget record
      const key = { pk: `TENANT#${randomUUID()}`, sk: 'BUDGET' };
      await db.doc.send(new PutCommand({ TableName: db.tableName, Item: { ...key, remainingUsd: 1 } }));
      const at = 1_000_000;
      // Act
      const first = await leaseRefill(db.doc, db.tableName, key, at);
      const meanwhile = await leaseRefill(db.doc, db.tableName, key, at + REFILL_LEASE_MS);
      const after = await leaseRefill(db.doc, db.tableName, key, at + REFILL_LEASE_MS + 1);
      // Assess
      expect(first?.until).toBe(at + REFILL_LEASE_MS);
      expect(meanwhile).toBeUndefined();
      expect(after?.until).toBe(at + 2 * REFILL_LEASE_MS + 1);
    });

    it('passes on an error of the table other than a failed condition from a lease', async () => {
      // Prepare: a table that does not exist
      const key = { pk: `TENANT#${randomUUID()}`, sk: 'BUDGET' };
      // Act
      const leasing = leaseRefill(db.doc, 'NoSuchTable', key, 1_000_000);
      // Assess
      await expect(leasing).rejects.toBeInstanceOf(ResourceNotFoundException);
    });

    it('counts a refill as under way up to and including the last millisecond of its lease', () => {
      expect(refillUnderWay({ refillUntil: 5_000 }, 5_000)).toBe(true);
      expect(refillUnderWay({ refillUntil: 5_000 }, 5_001)).toBe(false);
      expect(refillUnderWay({}, 1_000)).toBe(false);
    });
  });

  describe('results and agent records', () => {
    it('stores a subtask result on its own', async () => {
      // Prepare
      const ref = freshRef();
      const result = { subtaskId: 's1', agentId: 'a1', stage: 1, status: 'ANSWERED' as const, answer: '42' };
      // Act
      await store.putResult(ref, result);
      // Assess
      expect(await store.listResults(ref)).toEqual([result]);
    });

    it('keeps no agent record for the orchestrator, only its results', async () => {
      // Prepare
      const ref = freshRef();
      const result = { subtaskId: 's1', agentId: 'main', stage: 1, status: 'ANSWERED' as const, answer: '1' };
      const agent = {
        stage: 1,
        agentId: 'main',
        status: 'SUCCEEDED' as const,
        attempt: 1,
        stepCount: 1,
        subtaskIds: [],
      };
      // Act
      await store.finishAgent(ref, agent, 'main', [result]);
      // Assess
      expect(await store.listAgents(ref)).toEqual([]);
      expect(await store.listResults(ref)).toEqual([result]);
    });

    it("records a failed agent with its own steps' count and latest attempt", async () => {
      // Prepare: the agent's second invocation made two steps; another agent made one
      const ref = freshRef();
      await store.recordStep(ref, stepOf('a1', 1, 2));
      await store.recordStep(ref, stepOf('a1', 2, 2));
      await store.recordStep(ref, stepOf('a2', 1, 1));
      // Act
      const recorded = await store.recordAgentFailure(ref, {
        stage: 1,
        agentId: 'a1',
        subtaskIds: ['s1'],
        error: 'Lambda timed out',
      });
      // Assess
      expect(recorded).toBe(true);
      const [agent] = await store.listAgents(ref);
      expect(agent).toMatchObject({ agentId: 'a1', status: 'FAILED', attempt: 2, stepCount: 2 });
    });

    it('passes on a failure to record a failed agent that is not an existing record', async () => {
      // Prepare: the table refuses the record's write
      const { client } = watchedClient(db.doc, (command) => {
        if (command instanceof PutCommand) throw new Error('throughput exceeded');
      });
      const failing = new DynamoJobStore(client, db.tableName);
      // Act
      const recording = failing.recordAgentFailure(freshRef(), {
        stage: 1,
        agentId: 'a1',
        subtaskIds: [],
        error: 'x',
      });
      // Assess
      await expect(recording).rejects.toThrow('throughput exceeded');
    });
  });
});
