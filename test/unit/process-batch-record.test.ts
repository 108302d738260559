import { describe, expect, it } from 'vitest';
import { PoisonRecordError } from '#shared/domain/batch';
import {
  AuthError,
  BudgetExceededError,
  IdempotencyConflictError,
  NotFoundError,
  RequestValidationError,
} from '#shared/domain/errors';
import { jobIdForKey } from '#shared/domain/idempotency';
import { type BatchRecordDeps, processBatchRecord } from '#shared/use-cases/process-batch-record';
import { fakeAcceptDeps } from './accept-fakes';

/** The batch deps over in-memory ports (see ./accept-fakes) and a fixed set of objects (or, with `readFails`, none readable). */
function fakeDeps(opts: { reserveFails?: Error; objects?: Record<string, string>; readFails?: Error } = {}) {
  const { deps: accept, seen } = fakeAcceptDeps(opts);
  const deps: BatchRecordDeps = {
    ...accept,
    objects: {
      getText: ({ bucket, key }) => {
        if (opts.readFails) return Promise.reject(opts.readFails);
        const text = opts.objects?.[`${bucket}/${key}`];
        return text === undefined ? Promise.reject(new NotFoundError(key)) : Promise.resolve(text);
      },
    },
  };
  return { deps, seen };
}

const message = (body: unknown, messageId = 'm-1') => ({ messageId, body: JSON.stringify(body) });
const upload = (
  key: string,
  tags: { eTag?: string; sequencer?: string } = { eTag: 'e1', sequencer: '0A1' },
  eventName = 'ObjectCreated:Put',
) =>
  message({
    Records: [
      {
        eventSource: 'aws:s3',
        eventName,
        s3: { bucket: { name: 'uploads' }, object: { key, ...tags } },
      },
    ],
  });

describe('processBatchRecord', () => {
  it('accepts a job message under its key in the batch namespace, or under its message id', async () => {
    // Prepare
    const { deps, seen } = fakeDeps();
    // Act
    const keyed = await processBatchRecord(
      deps,
      message({ tenantId: 'acme', request: { task: 'Check' }, idempotencyKey: 'nightly-1' }),
    );
    const unkeyed = await processBatchRecord(
      deps,
      message({ tenantId: 'acme', request: { task: 'Check' } }, 'm-7'),
    );
    // Assess
    expect([...seen.jobs.values()].map((j) => j.idempotencyKey)).toEqual([
      'batch:nightly-1',
      'batch:sqs:m-7',
    ]);
    expect(keyed.jobs[0]).toMatchObject({
      tenantId: 'acme',
      jobId: jobIdForKey('acme', 'batch:nightly-1'),
      duplicate: false,
      source: 'message',
    });
    expect(unkeyed.jobs[0]?.idempotencyKey).toBe('batch:sqs:m-7');
    expect(seen.starts).toHaveLength(2);
  });

  it("stores the tenant's cap and its own annealing and λ with every job, from messages and uploads", async () => {
    // Prepare
    const { deps, seen } = fakeDeps({
      objects: { 'uploads/incoming/tuned/u.jsonl': '{"prompt":"1+1?"}\n' },
    });
    // Act
    await processBatchRecord(deps, message({ tenantId: 'tuned', request: { task: 'Check' } }));
    await processBatchRecord(deps, upload('incoming/tuned/u.jsonl'));
    await processBatchRecord(deps, message({ tenantId: 'acme', request: { task: 'Check' } }, 'm-2'));
    // Assess
    const tuned = { parallel: 0.5, finish: 0.3, perf: 0.2 };
    expect([...seen.jobs.values()].map((j) => [j.maxWidth, j.annealJobs, j.weights])).toEqual([
      [8, 30, tuned],
      [8, 30, tuned],
      [50, undefined, undefined],
    ]);
  });

  it('accepts an upload as one job of its subtasks, keyed by bucket, key and sequencer', async () => {
    // Prepare
    const { deps, seen } = fakeDeps({
      objects: { 'uploads/incoming/acme/c.csv': 'id,prompt\nq1,What is 1 + 1?\nq2,What is 2 + 2?\n' },
    });
    // Act
    const out = await processBatchRecord(deps, upload('incoming/acme/c.csv'));
    // Assess
    expect(out.jobs).toHaveLength(1);
    expect(out.jobs[0]?.idempotencyKey).toBe('batch:s3:uploads/incoming/acme/c.csv#0A1');
    expect(out.jobs[0]?.source).toBe('upload');
    expect(seen.subtasks.get(out.jobs[0]?.jobId ?? '')?.map((s) => s.id)).toEqual(['q1', 'q2']);
  });

  it('returns the first job for a record delivered again, and reserves and starts nothing more', async () => {
    // Prepare
    const { deps, seen } = fakeDeps();
    const body = { tenantId: 'acme', request: { task: 'Check' }, idempotencyKey: 'k' };
    // Act
    const first = await processBatchRecord(deps, message(body, 'm-1'));
    const again = await processBatchRecord(deps, message(body, 'm-2'));
    // Assess
    expect(again.jobs[0]).toMatchObject({ jobId: first.jobs[0]?.jobId, duplicate: true });
    expect(seen.reserved).toHaveLength(1);
    expect(seen.starts).toHaveLength(1);
  });

  it.each([
    ['an unknown tenant', { tenantId: 'nobody', request: { task: 'Check' } }, 'tenantId'],
    ['a revoked tenant', { tenantId: 'gone', request: { task: 'Check' } }, 'tenantId'],
    ['an invalid request', { tenantId: 'acme', request: { task: '' } }, 'request.task'],
    [
      'a width above the tenant cap',
      { tenantId: 'acme', request: { task: 'C', maxSubagents: 51 } },
      'request.maxSubagents',
    ],
    [
      'workload data without ids',
      {
        tenantId: 'acme',
        request: { task: 'C', workload: 'bma-compliance', dataset: { installations: [{ n: 1 }] } },
      },
      'request.dataset.installations[0].id',
    ],
  ])('rejects %s as poison and accepts nothing', async (_what, body, field) => {
    // Prepare
    const { deps, seen } = fakeDeps();
    // Act
    const outcome = processBatchRecord(deps, message(body));
    // Assess
    await expect(outcome).rejects.toBeInstanceOf(PoisonRecordError);
    await expect(outcome).rejects.toMatchObject({ field });
    expect(seen.jobs.size).toBe(0);
    expect(seen.reserved).toHaveLength(0);
  });

  it("names a request's wrong field once, without repeating it in the reason", async () => {
    const { deps } = fakeDeps();
    await expect(
      processBatchRecord(deps, message({ tenantId: 'acme', request: { task: '' } })),
    ).rejects.toMatchObject({ message: 'request.task: must not be empty' });
  });

  it('rejects an upload whose object is gone, or whose rows are not subtasks, as poison', async () => {
    // Prepare
    const { deps } = fakeDeps({ objects: { 'uploads/incoming/acme/bad.csv': 'id,prompt\nq1,\n' } });
    // Act / Assess
    await expect(processBatchRecord(deps, upload('incoming/acme/none.jsonl'))).rejects.toMatchObject({
      name: 'PoisonRecordError',
      field: 'object',
    });
    await expect(processBatchRecord(deps, upload('incoming/acme/bad.csv'))).rejects.toMatchObject({
      name: 'PoisonRecordError',
      field: 'object.subtasks[0].prompt',
    });
  });

  it('turns a key reused for another request into poison; the first job stands', async () => {
    // Prepare
    const { deps, seen } = fakeDeps();
    const keyed = (task: string) => message({ tenantId: 'acme', request: { task }, idempotencyKey: 'k' });
    await processBatchRecord(deps, keyed('Check'));
    // Act / Assess
    await expect(processBatchRecord(deps, keyed('Something else'))).rejects.toMatchObject({
      name: 'PoisonRecordError',
      field: 'idempotencyKey',
    });
    expect(seen.jobs.size).toBe(1);
  });

  it('lets a budget the job exceeds fail the record as it is, to be retried', async () => {
    // Prepare
    const exceeded = new BudgetExceededError('no money', { requiredUsd: 2, availableUsd: 1 });
    const { deps, seen } = fakeDeps({ reserveFails: exceeded });
    // Act / Assess
    await expect(
      processBatchRecord(deps, message({ tenantId: 'acme', request: { task: 'Check' } })),
    ).rejects.toBe(exceeded);
    expect(seen.jobs.size).toBe(0);
  });

  it('keys an upload event with neither sequencer nor ETag by its bucket and key alone', async () => {
    // Prepare
    const { deps } = fakeDeps({ objects: { 'uploads/incoming/acme/c.csv': 'prompt\nWhat is 1 + 1?\n' } });
    // Act
    const out = await processBatchRecord(deps, upload('incoming/acme/c.csv', {}));
    // Assess
    expect(out.jobs[0]?.idempotencyKey).toBe('batch:s3:uploads/incoming/acme/c.csv#');
  });

  it("names the uploaded file, without its folders, in the job's task", async () => {
    // Prepare
    const { deps, seen } = fakeDeps({
      objects: { 'uploads/incoming/acme/c.csv': 'prompt\nWhat is 1 + 1?\n' },
    });
    // Act
    const out = await processBatchRecord(deps, upload('incoming/acme/c.csv'));
    // Assess
    const task = seen.jobs.get(out.jobs[0]?.jobId ?? '')?.request.task;
    expect(task).toContain('c.csv');
    expect(task).not.toContain('/');
  });

  it('ignores an S3 test event and accepts nothing', async () => {
    // Prepare
    const { deps, seen } = fakeDeps();
    // Act
    const out = await processBatchRecord(deps, message({ Event: 's3:TestEvent' }));
    // Assess
    expect(out).toEqual({ jobs: [], ignored: 'S3 test event' });
    expect(seen.jobs.size).toBe(0);
  });

  it('ignores a notification without an object-created record, saying so, and accepts nothing', async () => {
    // Prepare
    const { deps, seen } = fakeDeps();
    // Act
    const out = await processBatchRecord(deps, upload('incoming/acme/c.csv', {}, 'ObjectRemoved:Delete'));
    // Assess
    expect(out).toEqual({ jobs: [], ignored: expect.stringMatching(/object-created/) });
    expect(seen.jobs.size).toBe(0);
  });

  it('rejects an upload with a line that is not JSON as poison at that line', async () => {
    // Prepare
    const { deps, seen } = fakeDeps({
      objects: { 'uploads/incoming/acme/u.jsonl': '{"prompt":"1+1?"}\nnot json\n' },
    });
    // Act
    const outcome = processBatchRecord(deps, upload('incoming/acme/u.jsonl'));
    // Assess
    await expect(outcome).rejects.toBeInstanceOf(PoisonRecordError);
    await expect(outcome).rejects.toMatchObject({ field: 'object.line 2' });
    expect(seen.jobs.size).toBe(0);
  });

  it('names the missing object in the poison it makes of an upload that is gone', async () => {
    // Prepare
    const { deps } = fakeDeps();
    // Act / Assess
    await expect(processBatchRecord(deps, upload('incoming/acme/none.jsonl'))).rejects.toMatchObject({
      message: expect.stringContaining('s3://uploads/incoming/acme/none.jsonl'),
    });
  });

  it('lets an upload that cannot be read for another reason fail the record as it is, to be retried', async () => {
    // Prepare
    const throttled = new Error('SlowDown');
    const { deps } = fakeDeps({ readFails: throttled });
    // Act / Assess
    await expect(processBatchRecord(deps, upload('incoming/acme/c.csv'))).rejects.toBe(throttled);
  });

  it.each([
    ['an unknown tenant', message({ tenantId: 'nobody', request: { task: 'Check' } }), AuthError],
    ['an invalid request', message({ tenantId: 'acme', request: { task: '' } }), RequestValidationError],
    ['a missing object', upload('incoming/acme/none.jsonl'), NotFoundError],
    ['an unreadable file', upload('incoming/acme/bad.jsonl'), RequestValidationError],
  ])('keeps the error behind the poison of %s as its cause', async (_what, record, cause) => {
    // Prepare
    const { deps } = fakeDeps({ objects: { 'uploads/incoming/acme/bad.jsonl': 'not json\n' } });
    // Act / Assess
    await expect(processBatchRecord(deps, record)).rejects.toMatchObject({
      name: 'PoisonRecordError',
      cause: expect.any(cause),
    });
  });

  it('keeps the conflict behind the poison of a key reused for another request as its cause', async () => {
    // Prepare
    const { deps } = fakeDeps();
    const keyed = (task: string) => message({ tenantId: 'acme', request: { task }, idempotencyKey: 'k' });
    await processBatchRecord(deps, keyed('Check'));
    // Act / Assess
    await expect(processBatchRecord(deps, keyed('Something else'))).rejects.toMatchObject({
      name: 'PoisonRecordError',
      cause: expect.any(IdempotencyConflictError),
    });
  });
});
