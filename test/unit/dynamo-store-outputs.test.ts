import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { keys, providerKeys } from '#shared/adapters/dynamo/keys';
import { DynamoPolicyStore, POLICY_UPDATE_ATTEMPTS } from '#shared/adapters/dynamo/policy-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { StateConflictError, TransientError } from '#shared/domain/errors';
import type { PolicyState } from '#shared/domain/policy';

const TABLE = 'parl-test';

/**
 * A document client that answers each request by its command's class name (`GetCommand`, …): an
 * output, or an error to reject with. What a real table never gives (outputs without `Items`, a
 * throttled write, a condition lost on every attempt) is what these tests need.
 */
function stubClient(replies: Record<string, unknown>) {
  const sent: string[] = [];
  const inputs: Record<string, unknown>[] = [];
  const client = {
    send: (command: { input: Record<string, unknown> }) => {
      const name = command.constructor.name;
      sent.push(name);
      inputs.push(command.input);
      const reply = replies[name];
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply ?? {});
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent, inputs };
}

const tenantItem = {
  pk: 'TENANT#acme',
  sk: 'TENANT',
  tenantId: 'acme',
  name: 'acme',
  status: 'ACTIVE',
  createdAt: '2026-12-01T00:00:00.000Z',
  keyHash: 'hash-0',
  budgetUsd: 10,
  availableUsd: 10,
  reservedUsd: 0,
  spentUsd: 0,
  maxSubagents: 5,
};

const throttled = () => new Error('ProvisionedThroughputExceeded');
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'lost', $metadata: {} });

afterEach(() => {
  vi.restoreAllMocks();
});

/** The DynamoDB adapters on outputs and errors a local table does not produce (a stub client). */
describe('the DynamoDB adapters on unusual outputs', () => {
  describe('a query or scan output without Items', () => {
    const empty = { QueryCommand: {}, ScanCommand: {} };
    const ref = { tenantId: 'acme', jobId: 'job-1' };

    it('lists no tenant', async () => {
      // Act
      const page = await new DynamoTenantStore(stubClient(empty).client, TABLE).listTenants();
      // Assess
      expect(page).toEqual({ items: [] });
    });

    it('lists no step and no job', async () => {
      // Prepare
      const store = new DynamoJobStore(stubClient(empty).client, TABLE);
      // Act
      const steps = await store.listStepsPage(ref);
      const jobs = await store.listJobs('acme');
      // Assess
      expect([steps, jobs]).toEqual([{ items: [] }, { items: [] }]);
    });

    it('counts no progress and no finished agent', async () => {
      // Prepare
      const store = new DynamoJobStore(stubClient(empty).client, TABLE);
      // Act
      const progress = await store.countProgress(ref);
      const finished = await store.countFinishedAgents(ref, 1);
      // Assess
      expect(progress).toEqual({ succeeded: 0, failed: 0, steps: 0 });
      expect(finished).toBe(0);
    });

    it('finds no job across tenants', async () => {
      // Prepare
      const found: unknown[] = [];
      // Act
      for await (const job of new DynamoJobSearch(stubClient(empty).client, TABLE).findJobs({}))
        found.push(job);
      // Assess
      expect(found).toEqual([]);
    });

    it('reads no policy of a tenant (a prefix query)', async () => {
      // Act
      const policies = await new DynamoPolicyStore(stubClient(empty).client, TABLE).list('acme');
      // Assess
      expect(policies).toEqual([]);
    });
  });

  describe('an error that is not a lost condition', () => {
    it('passes through adjustBudget as it is', async () => {
      // Prepare
      const error = throttled();
      const { client } = stubClient({ GetCommand: { Item: tenantItem }, UpdateCommand: error });
      // Act
      const adjusted = new DynamoTenantStore(client, TABLE).adjustBudget('acme', -1);
      // Assess
      await expect(adjusted).rejects.toBe(error);
    });

    it('passes through rotateKey as it is, not as a revoked tenant', async () => {
      // Prepare
      const error = throttled();
      const { client } = stubClient({ GetCommand: { Item: tenantItem }, UpdateCommand: error });
      // Act
      const rotated = new DynamoTenantStore(client, TABLE).rotateKey('acme', 'hash-1');
      // Assess
      await expect(rotated).rejects.toBe(error);
    });

    it('passes through finishJob as it is, not as a job finished already', async () => {
      // Prepare
      const error = throttled();
      const { client } = stubClient({ UpdateCommand: error });
      // Act
      const finished = new DynamoJobStore(client, TABLE).finishJob(
        { tenantId: 'acme', jobId: 'job-1' },
        { status: 'FAILED', finishedAt: '2026-12-01T00:00:00.000Z' },
      );
      // Assess
      await expect(finished).rejects.toBe(error);
    });

    it('is a StateConflictError from rotateKey when the condition is lost (the tenant was revoked meanwhile)', async () => {
      // Prepare
      const { client } = stubClient({ GetCommand: { Item: tenantItem }, UpdateCommand: conditionFailed() });
      // Act
      const rotated = new DynamoTenantStore(client, TABLE).rotateKey('acme', 'hash-1');
      // Assess
      await expect(rotated).rejects.toBeInstanceOf(StateConflictError);
    });
  });

  describe('a policy update that loses its condition on every attempt', () => {
    it('gives up after POLICY_UPDATE_ATTEMPTS attempts with a TransientError naming the policy and the tenant', async () => {
      // Prepare: no backoff; every conditional write is lost to another writer
      vi.spyOn(Math, 'random').mockReturnValue(0);
      const stored = {
        pk: 'TENANT#acme',
        sk: 'POLICY#code',
        tenantId: 'acme',
        taskClass: 'code',
        version: 3,
      };
      const { client, sent } = stubClient({ GetCommand: { Item: stored }, PutCommand: conditionFailed() });
      // Act
      const updated = new DynamoPolicyStore(client, TABLE).update(
        'acme',
        'code',
        () => ({}) as PolicyState,
        (current) => ({ ...current, jobs: 1 }),
      );
      // Assess
      await expect(updated).rejects.toBeInstanceOf(TransientError);
      await expect(updated).rejects.toThrow(
        'the policy code of tenant acme changed under 25 update attempts in a row',
      );
      expect(sent.filter((name) => name === 'PutCommand')).toHaveLength(POLICY_UPDATE_ATTEMPTS);
    });
  });

  describe('a policy update’s retries', () => {
    const stored = { pk: 'TENANT#acme', sk: 'POLICY#code', tenantId: 'acme', taskClass: 'code', version: 3 };
    const oneMoreJob = (current: PolicyState) => ({ ...current, jobs: 1 });

    afterEach(() => {
      vi.useRealTimers();
    });

    it('passes on a failed write other than a lost race at once, without retrying', async () => {
      // Prepare: no backoff, were there one; the table throttles the write
      vi.spyOn(Math, 'random').mockReturnValue(0);
      const error = throttled();
      const { client, sent } = stubClient({ GetCommand: { Item: stored }, PutCommand: error });
      // Act
      const updated = new DynamoPolicyStore(client, TABLE).update(
        'acme',
        'code',
        () => ({}) as PolicyState,
        oneMoreJob,
      );
      // Assess
      await expect(updated).rejects.toBe(error);
      expect(sent.filter((name) => name === 'PutCommand')).toHaveLength(1);
    });

    it('retries a lost race after jittered waits that double from 20 ms and stop growing at 500 ms', async () => {
      // Prepare: a fake clock; a jitter of one half; the first seven writes lost to other writers
      vi.useFakeTimers();
      vi.spyOn(Math, 'random').mockReturnValue(0.5);
      const writtenAt: number[] = [];
      const client = {
        send: (command: object) => {
          if (!(command instanceof PutCommand)) return Promise.resolve({ Item: stored });
          writtenAt.push(Date.now());
          return writtenAt.length <= 7 ? Promise.reject(conditionFailed()) : Promise.resolve({});
        },
      } as unknown as DynamoDBDocumentClient;
      // Act
      const updating = new DynamoPolicyStore(client, TABLE).update(
        'acme',
        'code',
        () => ({}) as PolicyState,
        oneMoreJob,
      );
      await vi.runAllTimersAsync();
      const updated = await updating;
      // Assess: half of 20, 40, 80, 160, 320, then of 500 (the cap) twice
      const waits = writtenAt.slice(1).map((at, i) => at - (writtenAt[i] ?? 0));
      expect(waits).toEqual([10, 20, 40, 80, 160, 250, 250]);
      expect(updated).toMatchObject({ jobs: 1, version: 4 });
    });
  });
});

describe('the job store’s reads of what was just written', () => {
  it('asks for consistent reads of the step pages, the progress counts, the job, its steps and its subtasks', async () => {
    // Prepare
    const { client, inputs } = stubClient({});
    const store = new DynamoJobStore(client, TABLE);
    const ref = { tenantId: 'acme', jobId: 'job-1' };
    // Act
    await store.listStepsPage(ref);
    await store.countProgress(ref);
    await store.getJob(ref);
    await store.listSteps(ref);
    await store.getSubtasks(ref, ['s1']);
    // Assess: six reads (progress is two queries), each consistent
    const consistent = inputs.map(
      (input) =>
        input.ConsistentRead ??
        Object.values(input.RequestItems as Record<string, { ConsistentRead?: boolean }>)[0]?.ConsistentRead,
    );
    expect(consistent).toEqual([true, true, true, true, true, true]);
  });
});

describe('the table keys', () => {
  it('spells the prefix of a stage’s agents with the stage in three digits', () => {
    // Assess
    expect([keys.stageAgentsPrefix(2), keys.stageAgentsPrefix(12)]).toEqual(['AGENT#002#', 'AGENT#012#']);
  });

  it('keys a provider by 16 hex of sha256(base URL, key), a missing key as an empty one', () => {
    // Prepare
    const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
    // Act
    const without = providerKeys.pk('https://api.example', undefined);
    const empty = providerKeys.pk('https://api.example', '');
    const withKey = providerKeys.pk('https://api.example', 'k1');
    // Assess
    expect(without).toBe(`PROVIDER#${hash('https://api.example\n')}`);
    expect(empty).toBe(without);
    expect(withKey).toBe(`PROVIDER#${hash('https://api.example\nk1')}`);
  });
});
