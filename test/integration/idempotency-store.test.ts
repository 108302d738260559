import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import { useDynaliteTable } from './dynalite-table';

describe('DynamoIdempotencyStore (dynalite)', () => {
  const table = useDynaliteTable();
  let store: DynamoIdempotencyStore;

  beforeAll(() => {
    store = new DynamoIdempotencyStore(table.doc, table.tableName);
  });

  it('keeps the first claim of a key and hands it to every later claim, concurrent ones included', async () => {
    // Prepare
    const first = { jobId: 'job-1', requestHash: 'h1' };
    await store.claim('acme', 'key-1', first);
    // Act
    const later = await Promise.all([
      store.claim('acme', 'key-1', { jobId: 'job-2', requestHash: 'h2' }),
      store.claim('acme', 'key-1', { jobId: 'job-3', requestHash: 'h1' }),
    ]);
    // Assess
    expect(later).toEqual([first, first]);
  });

  it('keeps keys apart per tenant', async () => {
    // Act
    const a = await store.claim('tenant-a', 'shared-key', { jobId: 'job-a', requestHash: 'ha' });
    const b = await store.claim('tenant-b', 'shared-key', { jobId: 'job-b', requestHash: 'hb' });
    // Assess
    expect(a).toEqual({ jobId: 'job-a', requestHash: 'ha' });
    expect(b).toEqual({ jobId: 'job-b', requestHash: 'hb' });
  });
});
