import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTablesFromTemplates, type LocalDynamo, startDynalite } from '#local/emulators/dynamo';
import { synthesizeApp } from '#local/synth';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import { loadConfig } from '#shared/config';

describe('DynamoIdempotencyStore (dynalite)', () => {
  let dynamo: LocalDynamo;
  let store: DynamoIdempotencyStore;

  beforeAll(async () => {
    dynamo = await startDynalite();
    const app = synthesizeApp();
    const [tableName = ''] = await createTablesFromTemplates(
      dynamo.endpoint,
      'us-east-1',
      Object.values(app.templates),
    );
    app.dispose();
    const config = loadConfig({ TABLE_NAME: tableName, DYNAMODB_ENDPOINT: dynamo.endpoint });
    store = new DynamoIdempotencyStore(createDynamoDocumentClient(config), tableName);
  });
  afterAll(async () => {
    await dynamo?.close();
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
