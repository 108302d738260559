import { randomUUID } from 'node:crypto';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseRefill, REFILL_LEASE_MS, refillUnderWay } from '#shared/adapters/dynamo/budget-refill';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import type { JobRecord, JobRef } from '#shared/ports/job-store';
import { type DynaliteTable, startDynaliteTable, watchedClient } from './dynalite-table';

const freshRef = (): JobRef => ({ tenantId: `t-${randomUUID()}`, jobId: `job-${randomUUID()}` });

const jobOf = (ref: JobRef): JobRecord => ({
  ...ref,
  status: 'ACCEPTED',
  request: { task: 'task', workload: 'generic', mode: 'parl' },
  acceptedAt: '2026-01-01T00:00:00.000Z',
});

/** The job store's edges: fields left undefined, empty changes, missing items, a failing table. */
describe('DynamoJobStore edges on dynalite', () => {
  let db: DynaliteTable;
  let store: DynamoJobStore;

  beforeAll(async () => {
    db = await startDynaliteTable();
    store = new DynamoJobStore(db.doc, db.tableName);
  });
  afterAll(async () => {
    await db?.dynamo.close();
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

    it('counts a refill as under way up to and including the last millisecond of its lease', () => {
      expect(refillUnderWay({ refillUntil: 5_000 }, 5_000)).toBe(true);
      expect(refillUnderWay({ refillUntil: 5_000 }, 5_001)).toBe(false);
      expect(refillUnderWay({}, 1_000)).toBe(false);
    });
  });
});
