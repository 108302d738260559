import { randomUUID } from 'node:crypto';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
