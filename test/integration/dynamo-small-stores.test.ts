import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import { keys } from '#shared/adapters/dynamo/keys';
import { DynamoPolicyStore } from '#shared/adapters/dynamo/policy-store';
import { emptyPolicy, type PolicyState } from '#shared/domain/policy';
import { useDynaliteTable, watchedClient } from './dynalite-table';

/** The idempotency keys' and the policies' stores: what they write, and their races, on dynalite. */
describe('the idempotency and policy stores on dynalite', () => {
  const db = useDynaliteTable();

  describe('DynamoIdempotencyStore', () => {
    it('stores a claim to expire a day later, in epoch seconds (what DynamoDB TTL reads)', async () => {
      // Prepare
      const store = new DynamoIdempotencyStore(db.doc, db.tableName);
      const before = Math.floor(Date.now() / 1000);
      // Act
      await store.claim('ttl-tenant', 'ttl-key', { jobId: 'job-1', requestHash: 'h1' });
      // Assess
      const after = Math.floor(Date.now() / 1000);
      const out = await db.doc.send(
        new GetCommand({
          TableName: db.tableName,
          Key: { pk: keys.tenantPk('ttl-tenant'), sk: keys.idempotency('ttl-key') },
        }),
      );
      expect(out.Item?.ttl).toBeGreaterThanOrEqual(before + 24 * 3600);
      expect(out.Item?.ttl).toBeLessThanOrEqual(after + 24 * 3600);
    });

    it('passes on a failure that is not a lost race, reading nothing', async () => {
      // Prepare: the table refuses the write
      const { client, sent } = watchedClient(db.doc, (command) => {
        if (command instanceof PutCommand) throw new Error('throughput exceeded');
      });
      const store = new DynamoIdempotencyStore(client, db.tableName);
      // Act
      const claiming = store.claim('err-tenant', 'err-key', { jobId: 'job-1', requestHash: 'h1' });
      // Assess
      await expect(claiming).rejects.toThrow('throughput exceeded');
      expect(sent.filter((c) => c instanceof GetCommand)).toHaveLength(0);
    });

    it('reads the winning claim with a consistent read after losing the race', async () => {
      // Prepare
      await new DynamoIdempotencyStore(db.doc, db.tableName).claim('race-tenant', 'race-key', {
        jobId: 'job-1',
        requestHash: 'h1',
      });
      const { client, sent } = watchedClient(db.doc);
      // Act
      const got = await new DynamoIdempotencyStore(client, db.tableName).claim('race-tenant', 'race-key', {
        jobId: 'job-2',
        requestHash: 'h2',
      });
      // Assess
      expect(got).toEqual({ jobId: 'job-1', requestHash: 'h1' });
      const reads = sent.filter((c): c is GetCommand => c instanceof GetCommand);
      expect(reads.map((r) => r.input.ConsistentRead)).toEqual([true]);
    });
  });

  describe('DynamoPolicyStore', () => {
    const learned = (p: PolicyState, jobId: string): PolicyState => ({
      ...p,
      jobs: p.jobs + 1,
      appliedJobs: [...p.appliedJobs, jobId],
    });

    it('reads a policy with a consistent read', async () => {
      // Prepare
      const { client, sent } = watchedClient(db.doc);
      // Act
      await new DynamoPolicyStore(client, db.tableName).get('read-tenant', 'generic');
      // Assess
      expect(sent.map((c) => (c as GetCommand).input.ConsistentRead)).toEqual([true]);
    });

    it('writes nothing when the change leaves the policy as it is', async () => {
      // Prepare: a stored policy
      const store = new DynamoPolicyStore(db.doc, db.tableName);
      const stored = await store.update(
        'same-tenant',
        'generic',
        () => emptyPolicy('same-tenant', 'generic'),
        (p) => learned(p, 'job-1'),
      );
      const { client, sent } = watchedClient(db.doc);
      // Act
      const kept = await new DynamoPolicyStore(client, db.tableName).update(
        'same-tenant',
        'generic',
        () => emptyPolicy('same-tenant', 'generic'),
        (p) => p,
      );
      // Assess
      expect(kept.version).toBe(stored.version);
      expect(sent.filter((c) => c instanceof PutCommand)).toHaveLength(0);
      expect((await store.get('same-tenant', 'generic'))?.version).toBe(stored.version);
    });

    it('keeps a first policy another writer created meanwhile, and applies its change on top', async () => {
      // Prepare: just before this writer's first write, another one creates the policy
      const other = new DynamoPolicyStore(db.doc, db.tableName);
      const initial = () => emptyPolicy('first-tenant', 'generic');
      let raced = false;
      const { client } = watchedClient(db.doc, async (command) => {
        if (command instanceof PutCommand && !raced) {
          raced = true;
          await other.update('first-tenant', 'generic', initial, (p) => learned(p, 'job-other'));
        }
      });
      // Act
      const mine = await new DynamoPolicyStore(client, db.tableName).update(
        'first-tenant',
        'generic',
        initial,
        (p) => learned(p, 'job-mine'),
      );
      // Assess: both changes kept, one version each
      expect(mine.version).toBe(2);
      const stored = await other.get('first-tenant', 'generic');
      expect(stored?.appliedJobs).toEqual(['job-other', 'job-mine']);
      expect(stored?.jobs).toBe(2);
    });
  });
});
