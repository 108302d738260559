import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { endRefill, leaseRefill } from '#shared/adapters/dynamo/budget-refill';
import { shardOf } from '#shared/adapters/dynamo/budget-shards';
import { keys } from '#shared/adapters/dynamo/keys';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { AuthError, BudgetExceededError, CallsStoppedError } from '#shared/domain/errors';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import type { JobRef } from '#shared/ports/job-store';
import { createTenant } from '#shared/use-cases/tenants';
import { useDynaliteTable } from './dynalite-table';

type Sent = { input: Record<string, unknown> };
type Around = (cmd: Sent, forward: () => Promise<unknown>) => Promise<unknown>;

/** Callers on distinct shards, so a test knows which shard each call writes. */
function callersOnDistinctShards(count: number): string[] {
  const found = new Map<number, string>();
  for (let n = 0; found.size < count; n++) {
    const k = shardOf(`agent-${n}`);
    if (!found.has(k)) found.set(k, `agent-${n}`);
  }
  return [...found.values()];
}

const isUpdate = (cmd: Sent, expression: string) =>
  cmd instanceof UpdateCommand && cmd.input.UpdateExpression === expression;

const TAKE_FROM_RECORD = 'SET remainingUsd = remainingUsd - :c';
const TOP_UP_RECORD = 'SET remainingUsd = remainingUsd + :t, heldUsd = heldUsd + :t';
const LEASE_REFILL = 'SET refillUntil = :until';

/**
 * The budget ledger's model calls on dynalite: reservations, authorizations that draw on the job's
 * record, refills (from the shards or the tenant), completions and stops, including the races a
 * client that acts at a chosen request makes reproducible.
 */
describe('the budget ledger authorizing, completing and stopping calls (dynalite)', () => {
  const table = useDynaliteTable();
  let ledger: DynamoBudgetLedger;
  let tenants: DynamoTenantStore;
  let jobs = 0;

  beforeAll(() => {
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
    tenants = new DynamoTenantStore(table.doc, table.tableName);
  });

  const newJob = async (budgetUsd: number): Promise<JobRef> => {
    const { tenant } = await createTenant(
      { tenants, maxSubagentsCap: 100 },
      { name: 'C', budgetUsd, maxSubagents: 10 },
    );
    jobs++;
    return { tenantId: tenant.tenantId, jobId: `job-${jobs}` };
  };

  /** A ledger whose client lets `around` act before or after each request reaches dynalite. */
  const ledgerAround = (around: Around) =>
    new DynamoBudgetLedger(
      { send: (cmd: Sent) => around(cmd, () => table.doc.send(cmd as never)) } as unknown as typeof table.doc,
      table.tableName,
    );

  const budgetKey = (ref: JobRef) => ({ pk: keys.jobPk(ref), sk: keys.budget });

  const read = async (key: Record<string, string>) =>
    (await table.doc.send(new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true })))
      .Item;

  const shard = (ref: JobRef, caller: string) =>
    read({ pk: keys.jobPk(ref), sk: keys.budgetShard(shardOf(caller)) });

  describe('reserve', () => {
    it('gives its hold back when a concurrent duplicate of the job reserved first', async () => {
      // Prepare: the duplicate reserves between this reservation's hold and its budget record
      const ref = await newJob(1);
      let raced = false;
      const racing = ledgerAround(async (cmd, forward) => {
        if (!raced && cmd instanceof PutCommand) {
          raced = true;
          await ledger.reserve(ref, 0.3);
        }
        return forward();
      });
      // Act
      await racing.reserve(ref, 0.3);
      // Assess: one reservation held and counted
      expect(raced).toBe(true);
      expect(await tenants.getTenant(ref.tenantId)).toMatchObject({
        availableUsd: 0.7,
        reservedUsd: 0.3,
        activeJobs: 1,
      });
    });

    it('fails with the storage error when writing the budget record fails, keeping the hold', async () => {
      // Prepare
      const ref = await newJob(1);
      const failing = ledgerAround((cmd, forward) =>
        cmd instanceof PutCommand ? Promise.reject(new Error('storage down')) : forward(),
      );
      // Act
      const reserving = failing.reserve(ref, 0.3);
      // Assess: held, never overspent
      await expect(reserving).rejects.toThrow('storage down');
      expect(await tenants.getTenant(ref.tenantId)).toMatchObject({ availableUsd: 0.7, reservedUsd: 0.3 });
    });

    it('holds nothing more for a repeated submission, even when the balance could not cover it twice', async () => {
      // Prepare
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.6);
      // Act
      await ledger.reserve(ref, 0.6);
      // Assess
      expect(await tenants.getTenant(ref.tenantId)).toMatchObject({
        availableUsd: 0.4,
        reservedUsd: 0.6,
        activeJobs: 1,
      });
    });

    it('refuses a revoked tenant with an AuthError that says so', async () => {
      // Prepare
      const ref = await newJob(1);
      await tenants.revokeKey(ref.tenantId);
      // Act
      const reserving = ledger.reserve(ref, 0.1);
      // Assess
      await expect(reserving).rejects.toBeInstanceOf(AuthError);
      await expect(reserving).rejects.toMatchObject({
        message: `tenant ${ref.tenantId} is revoked`,
        revoked: true,
      });
      expect(await tenants.getTenant(ref.tenantId)).toMatchObject({ availableUsd: 1, reservedUsd: 0 });
    });
  });

  describe('authorizeCall', () => {
    it('uses the shard of the empty caller when none is named, and completeCall finds it there', async () => {
      // Prepare: $0.005 a shard
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      // Act / Assess
      const authorized = await ledger.authorizeCall(ref, 0.004);
      expect(await shard(ref, '')).toMatchObject({ remainingUsd: 0.001, inFlight: 1 });
      await ledger.completeCall(ref, authorized, 0.001);
      expect(await shard(ref, '')).toMatchObject({ remainingUsd: 0.004, inFlight: 0 });
    });

    it('refuses a call on a settled job with a BudgetExceededError naming the amount', async () => {
      // Prepare
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      await ledger.settle(ref, '2026-12-02T00:00:00.000Z', [], KIMI_K25_PRICES);
      // Act
      const late = ledger.authorizeCall(ref, 0.002, 'late');
      // Assess
      await expect(late).rejects.toBeInstanceOf(BudgetExceededError);
      await expect(late).rejects.toMatchObject({
        message: 'the job has already been settled; no further model calls',
        requiredUsd: 0.002,
        availableUsd: 0,
      });
    });

    it('does not wait for a refill under way when the record covers the call exactly', async () => {
      // Prepare: $0.08 on the record; a refill lease taken by a caller that never ends it
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      await leaseRefill(table.doc, table.tableName, budgetKey(ref), Date.now() + 3_600_000);
      // Act
      const authorized = await ledger.authorizeCall(ref, 0.08, 'agent-x');
      // Assess
      expect(authorized).toBe(0.08);
      expect(await read(budgetKey(ref))).toMatchObject({ remainingUsd: 0 });
    }, 10_000);

    it('waits for the refill under way when the record is short, and then pays from the shards', async () => {
      // Prepare: $0.08 on the record, $0.005 on each shard; another caller holds the refill lease
      // until this caller has looked at the record ten times
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      const lease = await leaseRefill(table.doc, table.tableName, budgetKey(ref), Date.now() + 3_600_000);
      let looks = 0;
      const waiting = ledgerAround(async (cmd, forward) => {
        if (cmd instanceof GetCommand && (cmd.input.Key as Record<string, string>).sk === keys.budget) {
          looks++;
          if (looks === 10) await endRefill(table.doc, table.tableName, budgetKey(ref), lease?.until ?? 0);
        }
        return forward();
      });
      // Act
      const authorized = await waiting.authorizeCall(ref, 0.1, 'agent-x');
      // Assess: paid from the reservation, nothing topped up
      expect(authorized).toBe(0.1);
      expect(looks).toBeGreaterThan(10);
      expect(await tenants.getTenant(ref.tenantId)).toMatchObject({ availableUsd: 0.84, reservedUsd: 0.16 });
    }, 10_000);

    it('gives up after eight contended rounds with a BudgetExceededError naming the amount', async () => {
      // Prepare: every draw on the record loses to a rival
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      let draws = 0;
      const contended = ledgerAround((cmd, forward) => {
        if (!isUpdate(cmd, TAKE_FROM_RECORD)) return forward();
        draws++;
        return Promise.reject(new ConditionalCheckFailedException({ message: 'rival', $metadata: {} }));
      });
      // Act
      const call = contended.authorizeCall(ref, 0.01, 'agent-x');
      // Assess
      await expect(call).rejects.toBeInstanceOf(BudgetExceededError);
      await expect(call).rejects.toMatchObject({
        message: 'the job could not authorize a model call (contended budget)',
        requiredUsd: 0.01,
        availableUsd: 0,
      });
      expect(draws).toBe(8);
    }, 10_000);

    it('fails with the storage error when a draw on the record fails for another reason', async () => {
      // Prepare
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      const failing = ledgerAround((cmd, forward) =>
        isUpdate(cmd, TAKE_FROM_RECORD) ? Promise.reject(new Error('connection reset')) : forward(),
      );
      // Act
      const call = failing.authorizeCall(ref, 0.01, 'agent-x');
      // Assess
      await expect(call).rejects.toThrow('connection reset');
    });

    /**
     * $0.16 reserved: a first call of $0.1 gathers every shard's share back and leaves $0.06 on the
     * record and nothing on the shards, so a caller short of it has nothing left to reclaim.
     */
    const drainedJob = async (budgetUsd = 1) => {
      const ref = await newJob(budgetUsd);
      const callers = callersOnDistinctShards(4);
      await ledger.reserve(ref, 0.16);
      await ledger.authorizeCall(ref, 0.1, callers[0]);
      return { ref, callers };
    };

    it('tops nothing up when another caller refilled the record while this one waited for the lease', async () => {
      // Prepare: a second call leaves $0.01 on the record; the third finds it short, and before it
      // takes the lease a fourth tops up $0.04 and takes $0.03, leaving exactly what it asks ($0.02)
      const { ref, callers } = await drainedJob();
      const [, second = '', third = '', fourth = ''] = callers;
      await ledger.authorizeCall(ref, 0.05, second);
      let raced = false;
      const racing = ledgerAround(async (cmd, forward) => {
        if (!raced && isUpdate(cmd, LEASE_REFILL)) {
          raced = true;
          expect(await ledger.authorizeCall(ref, 0.03, fourth)).toBe(0.03);
        }
        return forward();
      });
      // Act
      const authorized = await racing.authorizeCall(ref, 0.02, third);
      // Assess: the fourth's top-up was the only one
      expect(authorized).toBe(0.02);
      const tenant = await tenants.getTenant(ref.tenantId);
      expect(tenant?.reservedUsd).toBeCloseTo(0.2, 6);
      expect(tenant?.availableUsd).toBeCloseTo(0.8, 6);
    });

    it('tops nothing up for a job stopped while the caller waited for the lease, and says it was stopped', async () => {
      // Prepare
      const { ref, callers } = await drainedJob();
      const [, caller = ''] = callers;
      let raced = false;
      const racing = ledgerAround(async (cmd, forward) => {
        if (!raced && isUpdate(cmd, LEASE_REFILL)) {
          raced = true;
          await ledger.stopCalls(ref, { status: 'ABORTED', reason: 'cancelled by the user' });
        }
        return forward();
      });
      // Act
      const call = racing.authorizeCall(ref, 0.07, caller);
      // Assess
      await expect(call).rejects.toBeInstanceOf(CallsStoppedError);
      await expect(call).rejects.toThrow(/cancelled by the user/);
      expect(await tenants.getTenant(ref.tenantId)).toMatchObject({ availableUsd: 0.84, reservedUsd: 0.16 });
      expect(await read(budgetKey(ref))).toMatchObject({ heldUsd: 0.16 });
    });

    it('gives a top-up back to the tenant when the job was settled before it landed', async () => {
      // Prepare: the settlement comes between the tenant's hold and the record's top-up
      const { ref, callers } = await drainedJob();
      const [, caller = ''] = callers;
      let raced = false;
      const racing = ledgerAround(async (cmd, forward) => {
        if (!raced && isUpdate(cmd, TOP_UP_RECORD)) {
          raced = true;
          await ledger.settle(ref, '2026-12-02T00:00:00.000Z', [], KIMI_K25_PRICES);
        }
        return forward();
      });
      // Act
      const call = racing.authorizeCall(ref, 0.07, caller);
      // Assess: refused as settled; the tenant holds nothing for the job
      await expect(call).rejects.toMatchObject({
        name: 'BudgetExceededError',
        message: 'the job has already been settled; no further model calls',
      });
      expect(raced).toBe(true);
      expect(await tenants.getTenant(ref.tenantId)).toMatchObject({
        availableUsd: 1,
        reservedUsd: 0,
        spentUsd: 0,
      });
    });

    it('fails with the storage error when the top-up of the record fails for another reason', async () => {
      // Prepare
      const { ref, callers } = await drainedJob();
      const [, caller = ''] = callers;
      const failing = ledgerAround((cmd, forward) =>
        isUpdate(cmd, TOP_UP_RECORD) ? Promise.reject(new Error('throttled')) : forward(),
      );
      // Act
      const call = failing.authorizeCall(ref, 0.07, caller);
      // Assess
      await expect(call).rejects.toThrow('throttled');
    });
  });

  describe('completeCall', () => {
    const stop = { status: 'ABORTED', reason: 'test' } as const;

    it('counts nothing and closes nothing for a call that was never authorized (zero)', async () => {
      // Prepare: a stopped job with no call in flight
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      expect(await ledger.stopCalls(ref, stop)).toBe(0);
      // Act
      const last = await ledger.completeCall(ref, 0, 0.001, 'agent-x');
      // Assess
      expect(last).toBeUndefined();
      expect(await shard(ref, 'agent-x')).toMatchObject({ remainingUsd: 0.005, stopped: true });
      expect((await shard(ref, 'agent-x'))?.inFlight).toBeUndefined();
    });

    it('answers undefined for a job without a budget', async () => {
      // Prepare
      const ref = await newJob(1);
      // Act
      const last = await ledger.completeCall(ref, 0.01, 0.004, 'agent-x');
      // Assess
      expect(last).toBeUndefined();
    });

    it('tells only the last call in flight of a stopped job that it ends the job', async () => {
      // Prepare: two calls in flight on two shards, then the stop
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      const [a = '', b = ''] = callersOnDistinctShards(2);
      const fromA = await ledger.authorizeCall(ref, 0.001, a);
      const fromB = await ledger.authorizeCall(ref, 0.001, b);
      expect(await ledger.stopCalls(ref, stop)).toBe(2);
      // Act
      const first = await ledger.completeCall(ref, fromA, 0.001, a);
      const second = await ledger.completeCall(ref, fromB, 0.001, b);
      // Assess
      expect(first).toBeUndefined();
      expect(second).toMatchObject(stop);
    });

    it('does not tell the last call to end a stopped job that was settled meanwhile', async () => {
      // Prepare: a call in flight, the stop, and a settlement by another path
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      const authorized = await ledger.authorizeCall(ref, 0.001, 'agent-x');
      expect(await ledger.stopCalls(ref, stop)).toBe(1);
      await ledger.settle(ref, '2026-12-02T00:00:00.000Z', [], KIMI_K25_PRICES);
      // Act
      const last = await ledger.completeCall(ref, authorized, 0.001, 'agent-x');
      // Assess
      expect(last).toBeUndefined();
    });
  });

  describe('stopCalls', () => {
    it('counts no call and writes nothing for a job without a budget', async () => {
      // Prepare
      const ref = await newJob(1);
      // Act
      const counted = await ledger.stopCalls(ref, { status: 'FAILED' });
      // Assess
      expect(counted).toBe(0);
      const out = await table.doc.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': keys.jobPk(ref) },
        }),
      );
      expect(out.Items).toEqual([]);
    });

    it('fails with the storage error when marking the record fails for another reason', async () => {
      // Prepare
      const ref = await newJob(1);
      await ledger.reserve(ref, 0.16);
      const failing = ledgerAround((cmd, forward) =>
        isUpdate(cmd, 'SET stopped = if_not_exists(stopped, :stop)')
          ? Promise.reject(new Error('throttled'))
          : forward(),
      );
      // Act
      const stopping = failing.stopCalls(ref, { status: 'FAILED' });
      // Assess
      await expect(stopping).rejects.toThrow('throttled');
    });
  });
});
