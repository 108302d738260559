import { BatchGetCommand, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { BudgetShards } from '#shared/adapters/dynamo/budget-shards';
import { LimiterItems } from '#shared/adapters/dynamo/limiter-items';
import { readTenant } from '#shared/adapters/dynamo/tenant-item';
import { DynamoUsageBook } from '#shared/adapters/dynamo/usage-book';
import type { ProviderLimits } from '#shared/domain/provider-limits';
import type { JobCharge } from '#shared/ports/ledger';
import { SteppingClock } from '../unit/stepping-clock';
import { useDynaliteTable, watchedClient } from './dynalite-table';

/**
 * The reads that must see the writes of the last second ask DynamoDB for a strongly consistent
 * read. dynalite keeps one copy of each item, so every read there sees the last write and no
 * behaviour on the local stack tells the two kinds apart; on DynamoDB an eventually consistent
 * read can miss a claim, a take or a count made just before. What is checked here is therefore the
 * request each read sends (as for the policy and idempotency reads in dynamo-small-stores.test.ts).
 */
const table = useDynaliteTable();

const limits: ProviderLimits = { maxConcurrency: 10, rpm: undefined, tpm: undefined, windowMs: 60_000 };
const charge: JobCharge = {
  period: '2026-12',
  jobs: 1,
  calls: 2,
  inputTokens: 10,
  cachedInputTokens: 0,
  outputTokens: 5,
  costUsd: 0.001,
  settledAt: Date.now(),
};

/** The ConsistentRead flag of every read of a kind that was sent. */
function consistency(sent: object[], kind: typeof GetCommand | typeof QueryCommand): unknown[] {
  return sent
    .filter((c) => c instanceof kind)
    .map((c) => (c as GetCommand | QueryCommand).input.ConsistentRead);
}

describe('reads that must see the last writes', () => {
  it("reads a job's budget record before reserving it with a consistent read", async () => {
    // Prepare
    const { client, sent } = watchedClient(table.doc);
    // Act: no tenant exists, so the reservation itself fails after the read
    await new DynamoBudgetLedger(client, table.tableName)
      .reserve({ tenantId: 'consistent-ledger', jobId: 'j1' }, 1)
      .catch(() => undefined);
    // Assess
    expect(sent[0]).toBeInstanceOf(GetCommand);
    expect((sent[0] as GetCommand).input.ConsistentRead).toBe(true);
  });

  it("reads a job's budget shards with a consistent batch read", async () => {
    // Prepare
    const { client, sent } = watchedClient(table.doc);
    // Act
    await new BudgetShards(client, table.tableName).readAll({ tenantId: 'consistent-shards', jobId: 'j1' });
    // Assess
    const reads = sent.filter((c): c is BatchGetCommand => c instanceof BatchGetCommand);
    expect(
      reads.flatMap((r) => Object.values(r.input.RequestItems ?? {}).map((t) => t.ConsistentRead)),
    ).toEqual([true]);
  });

  it("reads a provider key's control item, and its whole partition, with consistent reads", async () => {
    // Prepare
    const { client, sent } = watchedClient(table.doc);
    const items = new LimiterItems(
      client,
      table.tableName,
      'PROVIDER#consistent',
      limits,
      new SteppingClock(),
      () => 0.5,
    );
    // Act
    await items.readRate(Number.POSITIVE_INFINITY);
    await items.readAll(Number.POSITIVE_INFINITY);
    // Assess
    expect(consistency(sent, GetCommand)).toEqual([true]);
    expect(consistency(sent, QueryCommand)).toEqual([true]);
  });

  it('reads a tenant with a consistent read', async () => {
    // Prepare
    const { client, sent } = watchedClient(table.doc);
    // Act
    await readTenant(client, table.tableName, 'consistent-tenant');
    // Assess
    expect(consistency(sent, GetCommand)).toEqual([true]);
  });

  it("reads a job's usage record back with a consistent read when it was recorded before", async () => {
    // Prepare: the job's usage recorded once
    const ref = { tenantId: 'consistent-usage', jobId: 'j1' };
    await new DynamoUsageBook(table.doc, table.tableName).record(ref, charge);
    const { client, sent } = watchedClient(table.doc);
    // Act: recorded again (its put refused), so the stored record is read back
    await new DynamoUsageBook(client, table.tableName).record(ref, charge);
    // Assess
    expect(consistency(sent, GetCommand)).toEqual([true]);
  });

  it("reads a tenant's month of usage counters with a consistent read", async () => {
    // Prepare: a month with counters
    const ref = { tenantId: 'consistent-summary', jobId: 'j1' };
    await new DynamoUsageBook(table.doc, table.tableName).record(ref, charge);
    const { client, sent } = watchedClient(table.doc);
    // Act
    const summary = await new DynamoUsageBook(client, table.tableName).summary(ref.tenantId, charge.period);
    // Assess
    expect(summary.jobs).toBe(1);
    expect(consistency(sent, GetCommand)).toEqual([true]);
  });
});
