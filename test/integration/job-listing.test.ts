import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import type { JobStatus } from '#shared/domain/types';
import type { JobListing, JobRecord } from '#shared/ports/job-store';
import { allItems } from '#shared/ports/paging';
import { useDynaliteTable } from './dynalite-table';

const job = (tenantId: string, n: number, status: JobStatus, idempotencyKey?: string): JobRecord => ({
  tenantId,
  jobId: `job-${n}`,
  status,
  request: { task: `task ${n}`, workload: 'generic', mode: 'parl' },
  acceptedAt: `2026-01-0${n}T00:00:00.000Z`,
  ...(idempotencyKey ? { idempotencyKey } : {}),
});

/** The one job listing (order, since, pages) and the search across tenants, on dynalite. */
describe('DynamoJobStore.listJobs and DynamoJobSearch', () => {
  const table = useDynaliteTable();
  let store: DynamoJobStore;
  let search: DynamoJobSearch;

  beforeAll(async () => {
    store = new DynamoJobStore(table.doc, table.tableName);
    search = new DynamoJobSearch(table.doc, table.tableName);
    for (const j of [
      job('acme', 1, 'SUCCEEDED', 'batch:sqs:m-1'),
      job('acme', 2, 'RUNNING', 'batch:s3:uploads/incoming/acme/a.csv#v1'),
      job('acme', 3, 'ACCEPTED'),
      job('acme', 4, 'FAILED', 'api-key-4'),
      job('other', 5, 'RUNNING', 'batch:sqs:m-5'),
    ]) {
      await store.createJob(j, []);
    }
  });

  const ids = async (tenantId: string, opts: JobListing) => {
    const out: string[] = [];
    for await (const j of allItems((cursor) =>
      store.listJobs(tenantId, { ...opts, ...(cursor ? { cursor } : {}) }),
    )) {
      out.push(j.jobId);
    }
    return out;
  };

  it.each([
    ['newest first by default', {}, ['job-4', 'job-3', 'job-2', 'job-1']],
    ['oldest first', { order: 'oldest' }, ['job-1', 'job-2', 'job-3', 'job-4']],
    ['oldest first since a time', { order: 'oldest', since: '2026-01-03T00:00:00.000Z' }, ['job-3', 'job-4']],
    ['newest first since a time', { since: '2026-01-02T00:00:00.000Z' }, ['job-4', 'job-3', 'job-2']],
    ['in pages of one', { limit: 1 }, ['job-4', 'job-3', 'job-2', 'job-1']],
    [
      'read back from the items, in pages of three',
      { order: 'oldest', consistent: true, limit: 3 },
      ['job-1', 'job-2', 'job-3', 'job-4'],
    ],
  ] as [string, JobListing, string[]][])('lists a tenant’s jobs %s', async (_name, opts, expected) => {
    expect(await ids('acme', opts)).toEqual(expected);
  });

  it('lists only the tenant’s own jobs, as stored', async () => {
    // Act
    const page = await store.listJobs('other', { consistent: true });
    // Assess
    expect(page.items).toEqual([job('other', 5, 'RUNNING', 'batch:sqs:m-5')]);
    expect(page.nextCursor).toBeUndefined();
  });

  it('finds and counts jobs across tenants by idempotency key prefix and by status', async () => {
    // Act
    const byKey: string[] = [];
    for await (const j of search.findJobs({ idempotencyKeyPrefix: 'batch:' }))
      byKey.push(`${j.tenantId}/${j.jobId}`);
    const unfinished: string[] = [];
    for await (const j of search.findJobs({ statuses: ['ACCEPTED', 'RUNNING'] })) unfinished.push(j.jobId);
    // Assess
    expect(byKey.sort()).toEqual(['acme/job-1', 'acme/job-2', 'other/job-5']);
    expect(unfinished.sort()).toEqual(['job-2', 'job-3', 'job-5']);
    expect(await search.countJobs({ idempotencyKeyPrefix: 'batch:' })).toBe(3);
    expect(await search.countJobs({ idempotencyKeyPrefix: 'batch:s3:', statuses: ['RUNNING'] })).toBe(1);
    expect(await search.countJobs({})).toBe(5);
  });
});
