import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { shardOf } from '#shared/adapters/dynamo/budget-shards';
import { keys } from '#shared/adapters/dynamo/keys';
import { holdFromTenant } from '#shared/adapters/dynamo/tenant-balance';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { costUsd, KIMI_K25_PRICES, tokenTotals } from '#shared/domain/measures';
import { usd } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import { createTenant } from '#shared/use-cases/tenants';
import { useDynaliteTable } from './dynalite-table';

type Sent = { input: Record<string, unknown> };
type Around = (cmd: Sent, forward: () => Promise<unknown>) => Promise<unknown>;

const ACCEPTED_AT = '2026-12-02T00:00:00.000Z';
const PERIOD = '2026-12';
const HOUR_MS = 3600_000;

const steps: StepRecord[] = [
  {
    stage: 1,
    role: 'sub',
    agentId: 'a1',
    step: 1,
    attempt: 1,
    startedAt: '2026-12-02T00:00:00.000Z',
    endedAt: '2026-12-02T00:00:01.000Z',
    durationMs: 1000,
    inputTokens: 20_000,
    outputTokens: 2_000,
    cachedInputTokens: 0,
    status: 'SUCCEEDED',
  },
];
const COST = usd(costUsd(tokenTotals(steps), KIMI_K25_PRICES));

const isUpdate = (cmd: Sent, expression: string) =>
  cmd instanceof UpdateCommand && String(cmd.input.UpdateExpression).startsWith(expression);

/**
 * The budget ledger's settlements and releases on dynalite: what they move on the tenant item, what
 * they store on the budget record and in the usage book, and how a retry after a crash (or after
 * the settlement markers were trimmed) finds them.
 */
describe('the budget ledger settling and releasing jobs (dynalite)', () => {
  const table = useDynaliteTable();
  let ledger: DynamoBudgetLedger;
  let tenants: DynamoTenantStore;
  let jobs = 0;

  beforeAll(() => {
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
    tenants = new DynamoTenantStore(table.doc, table.tableName);
  });

  const newTenant = async (budgetUsd: number) =>
    (await createTenant({ tenants, maxSubagentsCap: 100 }, { name: 'S', budgetUsd, maxSubagents: 10 })).tenant
      .tenantId;

  const newJob = (tenantId: string): JobRef => {
    jobs++;
    return { tenantId, jobId: `job-${jobs}` };
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

  const usageRecords = async (tenantId: string) =>
    (
      await table.doc.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :usage)',
          ExpressionAttributeValues: { ':pk': keys.tenantPk(tenantId), ':usage': 'USAGE' },
        }),
      )
    ).Items ?? [];

  /** Runs `act` with the clock `ms` earlier (settlements stamp their markers with Date.now()). */
  const earlier = async (ms: number, act: () => Promise<void>) => {
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now - ms);
    try {
      await act();
    } finally {
      clock.mockRestore();
    }
  };

  it("records the AWS cost a settlement reports in the job's charge and the month's usage", async () => {
    // Prepare
    const tenantId = await newTenant(1);
    const ref = newJob(tenantId);
    await ledger.reserve(ref, 0.1);
    // Act
    await ledger.settle(ref, ACCEPTED_AT, steps, KIMI_K25_PRICES, { awsCostUsd: 0.0123 });
    // Assess
    expect((await read(budgetKey(ref)))?.charge).toMatchObject({ costUsd: COST, awsCostUsd: 0.0123 });
    expect(await ledger.usage(tenantId, PERIOD)).toMatchObject({
      jobs: 1,
      costUsd: COST,
      awsCostUsd: 0.0123,
    });
  });

  it('writes no usage record when it releases a reservation, or a job that never had one', async () => {
    // Prepare
    const tenantId = await newTenant(1);
    const reserved = newJob(tenantId);
    await ledger.reserve(reserved, 0.1);
    // Act
    await ledger.release(reserved);
    await ledger.release(newJob(tenantId));
    // Assess
    expect(await usageRecords(tenantId)).toEqual([]);
    expect(await tenants.getTenant(tenantId)).toMatchObject({ availableUsd: 1, reservedUsd: 0, spentUsd: 0 });
  });

  it('trims the markers of settlements older than an hour, and a late retry of one moves nothing again', async () => {
    // Prepare: one job settled two hours ago
    const tenantId = await newTenant(1);
    const old = newJob(tenantId);
    await ledger.reserve(old, 0.1);
    await earlier(2 * HOUR_MS, () => ledger.settle(old, ACCEPTED_AT, steps, KIMI_K25_PRICES));
    const fresh = newJob(tenantId);
    await ledger.reserve(fresh, 0.1);
    // Act: another settles now, and the old one's settlement runs again
    await ledger.settle(fresh, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    await ledger.settle(old, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    // Assess: only the fresh job's markers are left
    const tenantItem = await read({ pk: keys.tenantPk(tenantId), sk: keys.tenant });
    expect([...((tenantItem?.settleMarkers as Set<string> | undefined) ?? [])]).toEqual([
      expect.stringMatching(`#${fresh.jobId}$`),
    ]);
    const month = await read({ pk: keys.tenantPk(tenantId), sk: keys.usageMonth(PERIOD) });
    expect([...((month?.countMarkers as Set<string> | undefined) ?? [])]).toEqual([
      expect.stringMatching(`#${fresh.jobId}$`),
    ]);
    // Each job was charged and counted once
    const tenant = await tenants.getTenant(tenantId);
    expect(tenant?.reservedUsd).toBeCloseTo(0, 6);
    expect(tenant?.spentUsd).toBeCloseTo(2 * COST, 6);
    expect(tenant?.availableUsd).toBeCloseTo(1 - 2 * COST, 6);
    expect(await ledger.usage(tenantId, PERIOD)).toMatchObject({ jobs: 2, costUsd: usd(2 * COST) });
  });

  it('settles a budget record from before jobs were counted without touching the count', async () => {
    // Prepare: $0.1 held for a job whose record has no activeJob flag
    const tenantId = await newTenant(1);
    const ref = newJob(tenantId);
    await holdFromTenant(table.doc, table.tableName, tenantId, 0.1, 'a job');
    await table.doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          ...budgetKey(ref),
          reservedUsd: 0.1,
          heldUsd: 0.1,
          remainingUsd: 0.1,
          createdAt: ACCEPTED_AT,
        },
      }),
    );
    // Act
    await ledger.settle(ref, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    // Assess
    const tenant = await tenants.getTenant(tenantId);
    expect(tenant?.reservedUsd).toBeCloseTo(0, 6);
    expect(tenant?.spentUsd).toBeCloseTo(COST, 6);
    expect(tenant?.activeJobs).toBe(0);
    expect((await read(budgetKey(ref)))?.state).toBe('DONE');
  });

  it('leaves a settlement that failed moving the money frozen as SETTLING, and a retry completes it', async () => {
    // Prepare
    const tenantId = await newTenant(1);
    const ref = newJob(tenantId);
    await ledger.reserve(ref, 0.1);
    const crashing = ledgerAround((cmd, forward) =>
      isUpdate(cmd, 'SET availableUsd = availableUsd + :release')
        ? Promise.reject(new Error('the Lambda timed out'))
        : forward(),
    );
    // Act
    const settling = crashing.settle(ref, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    // Assess: nothing moved, the charge frozen
    await expect(settling).rejects.toThrow('the Lambda timed out');
    expect(await read(budgetKey(ref))).toMatchObject({ state: 'SETTLING', charge: { costUsd: COST } });
    expect(await tenants.getTenant(tenantId)).toMatchObject({
      availableUsd: 0.9,
      reservedUsd: 0.1,
      spentUsd: 0,
    });
    // Act: the retry
    await ledger.settle(ref, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    // Assess
    expect((await read(budgetKey(ref)))?.state).toBe('DONE');
    const tenant = await tenants.getTenant(tenantId);
    expect(tenant?.reservedUsd).toBeCloseTo(0, 6);
    expect(tenant?.spentUsd).toBeCloseTo(COST, 6);
  });

  it('fails with the storage error when freezing the charge fails for another reason', async () => {
    // Prepare
    const tenantId = await newTenant(1);
    const ref = newJob(tenantId);
    await ledger.reserve(ref, 0.1);
    const failing = ledgerAround((cmd, forward) =>
      isUpdate(cmd, 'SET charge = :c') ? Promise.reject(new Error('throttled')) : forward(),
    );
    // Act
    const settling = failing.settle(ref, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    // Assess
    await expect(settling).rejects.toThrow('throttled');
  });

  it('reads the budget record once: what the freeze left on it is what is held', async () => {
    // Prepare: a job with one call authorized
    const tenantId = await newTenant(1);
    const ref = newJob(tenantId);
    await ledger.reserve(ref, 0.16);
    await ledger.authorizeCall(ref, 0.1, 'agent-x');
    const budgetReads: unknown[] = [];
    const counting = ledgerAround((cmd, forward) => {
      if (cmd instanceof GetCommand && (cmd.input.Key as Record<string, string>).sk === keys.budget)
        budgetReads.push(cmd);
      return forward();
    });
    // Act
    await counting.settle(ref, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    // Assess: one read before the freeze, none after it; the money moved as ever
    expect(budgetReads).toHaveLength(1);
    const tenant = await tenants.getTenant(tenantId);
    expect(tenant?.reservedUsd).toBeCloseTo(0, 6);
    expect(tenant?.spentUsd).toBeCloseTo(COST, 6);
    expect((await read(budgetKey(ref)))?.state).toBe('DONE');
  });

  it('releases a top-up that landed after the settlement first read the record', async () => {
    // Prepare: a call of $0.1 leaves $0.06 on the record and nothing on the shards, so a call of
    // $0.07 tops up from the tenant; it lands between the settlement's first read and its freeze
    const tenantId = await newTenant(1);
    const ref = newJob(tenantId);
    await ledger.reserve(ref, 0.16);
    let other = 0;
    while (shardOf(`agent-${other}`) === shardOf('agent-x')) other++;
    await ledger.authorizeCall(ref, 0.1, 'agent-x');
    let raced = false;
    const racing = ledgerAround(async (cmd, forward) => {
      const out = await forward();
      if (
        !raced &&
        cmd instanceof GetCommand &&
        (cmd.input.Key as Record<string, string>).sk === keys.budget
      ) {
        raced = true;
        expect(await ledger.authorizeCall(ref, 0.07, `agent-${other}`)).toBe(0.07);
      }
      return out;
    });
    // Act
    await racing.settle(ref, ACCEPTED_AT, steps, KIMI_K25_PRICES);
    // Assess: the tenant holds nothing for the job once it is settled
    const tenant = await tenants.getTenant(tenantId);
    expect(tenant?.reservedUsd).toBeCloseTo(0, 6);
    expect(tenant?.spentUsd).toBeCloseTo(COST, 6);
    expect(tenant?.availableUsd).toBeCloseTo(1 - COST, 6);
  });
});
