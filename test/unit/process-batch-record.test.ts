import { describe, expect, it } from 'vitest';
import { PoisonRecordError } from '#shared/domain/batch';
import { BudgetExceededError, IdempotencyConflictError, NotFoundError } from '#shared/domain/errors';
import type { Tenant } from '#shared/domain/tenant';
import type { JobRecord } from '#shared/ports/job-store';
import type { JobSubmission } from '#shared/ports/job-submitter';
import { type BatchRecordDeps, processBatchRecord } from '#shared/use-cases/process-batch-record';

const tenant = (tenantId: string, over: Partial<Tenant> = {}): Tenant => ({
  tenantId,
  name: tenantId,
  status: 'ACTIVE',
  createdAt: '2026-11-29T00:00:00.000Z',
  keyHash: 'h',
  budgetUsd: 10,
  availableUsd: 10,
  reservedUsd: 0,
  spentUsd: 0,
  maxSubagents: 50,
  ...over,
});

/** Deps whose submitter records what it is given (or throws `fail`), over a fixed set of tenants and objects. */
function fakeDeps(opts: { fail?: Error; objects?: Record<string, string> } = {}) {
  const submissions: JobSubmission[] = [];
  const tenants = new Map([
    ['acme', tenant('acme')],
    ['gone', tenant('gone', { status: 'REVOKED' })],
    [
      'tuned',
      tenant('tuned', {
        maxSubagents: 8,
        annealJobs: 30,
        weights: { parallel: 0.5, finish: 0.3, perf: 0.2 },
      }),
    ],
  ]);
  const deps: BatchRecordDeps = {
    submitter: {
      submit: (input) => {
        if (opts.fail) return Promise.reject(opts.fail);
        submissions.push(input);
        const job: JobRecord = {
          tenantId: input.tenantId,
          jobId: `job-of-${input.idempotencyKey}`,
          status: 'ACCEPTED',
          request: input.request,
          acceptedAt: new Date().toISOString(),
        };
        return Promise.resolve({ job, duplicate: false });
      },
    },
    tenants: { getTenant: (id) => Promise.resolve(tenants.get(id)) },
    objects: {
      getText: ({ bucket, key }) => {
        const text = opts.objects?.[`${bucket}/${key}`];
        return text === undefined ? Promise.reject(new NotFoundError(key)) : Promise.resolve(text);
      },
    },
    config: { maxSubagentsCap: 1000 },
  };
  return { deps, submissions };
}

const message = (body: unknown, messageId = 'm-1') => ({ messageId, body: JSON.stringify(body) });
const upload = (key: string) =>
  message({
    Records: [
      {
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: 'uploads' }, object: { key, eTag: 'e1', sequencer: '0A1' } },
      },
    ],
  });

describe('processBatchRecord', () => {
  it('submits a job message under its key in the batch namespace, or under its message id', async () => {
    // Prepare
    const { deps, submissions } = fakeDeps();
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
    expect(submissions.map((s) => s.idempotencyKey)).toEqual(['batch:nightly-1', 'batch:sqs:m-7']);
    expect(keyed.jobs[0]).toMatchObject({
      tenantId: 'acme',
      jobId: 'job-of-batch:nightly-1',
      source: 'message',
    });
    expect(unkeyed.jobs[0]?.idempotencyKey).toBe('batch:sqs:m-7');
  });

  it("passes the tenant's cap and its own annealing on with every job, from messages and uploads", async () => {
    // Prepare
    const { deps, submissions } = fakeDeps({
      objects: { 'uploads/incoming/tuned/u.jsonl': '{"prompt":"1+1?"}\n' },
    });
    // Act
    await processBatchRecord(deps, message({ tenantId: 'tuned', request: { task: 'Check' } }));
    await processBatchRecord(deps, upload('incoming/tuned/u.jsonl'));
    await processBatchRecord(deps, message({ tenantId: 'acme', request: { task: 'Check' } }, 'm-2'));
    // Assess
    const tuned = { parallel: 0.5, finish: 0.3, perf: 0.2 };
    expect(submissions.map((s) => [s.maxWidth, s.annealJobs, s.weights])).toEqual([
      [8, 30, tuned],
      [8, 30, tuned],
      [50, undefined, undefined],
    ]);
  });

  it('submits an upload as one job of its subtasks, keyed by bucket, key and sequencer', async () => {
    // Prepare
    const { deps, submissions } = fakeDeps({
      objects: { 'uploads/incoming/acme/c.csv': 'id,prompt\nq1,What is 1 + 1?\nq2,What is 2 + 2?\n' },
    });
    // Act
    const out = await processBatchRecord(deps, upload('incoming/acme/c.csv'));
    // Assess
    expect(out.jobs).toHaveLength(1);
    expect(submissions[0]?.idempotencyKey).toBe('batch:s3:uploads/incoming/acme/c.csv#0A1');
    expect(submissions[0]?.request.subtasks?.map((s) => s.id)).toEqual(['q1', 'q2']);
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
  ])('rejects %s as poison and submits nothing', async (_what, body, field) => {
    // Prepare
    const { deps, submissions } = fakeDeps();
    // Act
    const outcome = processBatchRecord(deps, message(body));
    // Assess
    await expect(outcome).rejects.toBeInstanceOf(PoisonRecordError);
    await expect(outcome).rejects.toMatchObject({ field });
    expect(submissions).toHaveLength(0);
  });

  it('rejects an upload whose object is gone as poison', async () => {
    const { deps } = fakeDeps();
    await expect(processBatchRecord(deps, upload('incoming/acme/none.jsonl'))).rejects.toMatchObject({
      name: 'PoisonRecordError',
      field: 'object',
    });
  });

  it('turns a key reused for another request into poison', async () => {
    const { deps } = fakeDeps({ fail: new IdempotencyConflictError('used for job j-1', 'j-1') });
    await expect(
      processBatchRecord(
        deps,
        message({ tenantId: 'acme', request: { task: 'Check' }, idempotencyKey: 'k' }),
      ),
    ).rejects.toMatchObject({ name: 'PoisonRecordError', field: 'idempotencyKey' });
  });

  it('lets a budget the job exceeds fail the record as it is, to be retried', async () => {
    // Prepare
    const exceeded = new BudgetExceededError('no money', { requiredUsd: 2, availableUsd: 1 });
    const { deps } = fakeDeps({ fail: exceeded });
    // Act / Assess
    await expect(
      processBatchRecord(deps, message({ tenantId: 'acme', request: { task: 'Check' } })),
    ).rejects.toBe(exceeded);
  });
});
