import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { trimStaleMarkers } from '#shared/adapters/dynamo/markers';
import { queryByPrefix } from '#shared/adapters/dynamo/pages';
import { isConditionFailure } from '#shared/adapters/dynamo/tenant-item';
import { usd } from '#shared/domain/tenant';
import type { JobRef } from '#shared/ports/job-store';
import type { JobCharge, UsageSummary } from '#shared/ports/ledger';

/** Money is counted in whole micro-dollars (costUsd) and 1e-8 dollars (awsCostUsd), so sums stay exact. */
const MICRO = 1e6;
const AWS_UNIT = 1e8;

/**
 * A tenant's usage: one record per settled job (`USAGE#<period>#<jobId>`, the detail) and one
 * counter item per month (`USAGE_MONTH#<period>`), added to atomically as each record is written,
 * which `GET /v1/usage` reads instead of every record of the month.
 *
 * Each job is counted once: its record is written once (the first settlement's figures win), and
 * the counters' `ADD` is guarded by a marker of the job (`<settledAt>#<jobId>`) kept for an hour,
 * after which the record's `counted` flag alone guards (set right after the `ADD`).
 */
export class DynamoUsageBook {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * 1. put the job's usage record unless it exists (an existing one's figures win)
   * 2. unless the record is counted: add its figures to the month's counters, once (marker)
   * 3. flag the record counted and trim old markers
   */
  async record(ref: JobRef, charge: JobCharge): Promise<void> {
    const key = { pk: keys.tenantPk(ref.tenantId), sk: keys.usage(charge.period, ref.jobId) };
    let stored: Record<string, unknown> = { ...key, jobId: ref.jobId, ...charge };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: stored,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const out = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      stored = out.Item ?? stored;
      if (stored.counted === true) return;
    }
    await this.count(ref, stored as unknown as JobCharge);
    // Together: the trim takes only markers an hour old, never the one just counted.
    await Promise.all([
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET counted = :yes',
          ExpressionAttributeValues: { ':yes': true },
        }),
      ),
      trimStaleMarkers(
        this.client,
        this.tableName,
        this.monthKey(ref.tenantId, charge.period),
        'countMarkers',
      ),
    ]);
  }

  /** Adds a job's figures to its month's counters unless its marker says they were added. */
  private async count(ref: JobRef, charge: JobCharge): Promise<void> {
    const marker = `${charge.settledAt ?? 0}#${ref.jobId}`;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.monthKey(ref.tenantId, charge.period),
          UpdateExpression:
            'ADD jobs :jobs, calls :calls, inputTokens :in, cachedInputTokens :cached, outputTokens :out, costMicroUsd :cost, awsCostE8Usd :aws, countMarkers :markers',
          ConditionExpression: 'NOT contains(countMarkers, :marker)',
          ExpressionAttributeValues: {
            ':jobs': Number(charge.jobs),
            ':calls': Number(charge.calls),
            ':in': Number(charge.inputTokens),
            ':cached': Number(charge.cachedInputTokens),
            ':out': Number(charge.outputTokens),
            ':cost': Math.round(Number(charge.costUsd) * MICRO),
            ':aws': Math.round(Number(charge.awsCostUsd ?? 0) * AWS_UNIT),
            ':markers': new Set([marker]),
            ':marker': marker,
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // counted by an earlier try
    }
  }

  private monthKey(tenantId: string, period: string) {
    return { pk: keys.tenantPk(tenantId), sk: keys.usageMonth(period) };
  }

  /**
   * The tenant's usage in a period from its counters: one read. A month without counters (before
   * they existed, or with no job) is summed from its records, which then are none or few.
   */
  async summary(tenantId: string, period: string): Promise<UsageSummary> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: this.monthKey(tenantId, period),
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return this.sumRecords(tenantId, period);
    const n = (name: string) => Number(out.Item?.[name] ?? 0);
    return {
      tenantId,
      period,
      jobs: n('jobs'),
      calls: n('calls'),
      inputTokens: n('inputTokens'),
      cachedInputTokens: n('cachedInputTokens'),
      outputTokens: n('outputTokens'),
      costUsd: usd(n('costMicroUsd') / MICRO),
      awsCostUsd: n('awsCostE8Usd') / AWS_UNIT,
    };
  }

  /** The period's usage summed over its records (what the counters must agree with). */
  async sumRecords(tenantId: string, period: string): Promise<UsageSummary> {
    const items = await queryByPrefix(
      this.client,
      this.tableName,
      keys.tenantPk(tenantId),
      keys.usagePrefix(period),
    );
    let costMicro = 0;
    let awsE8 = 0;
    const sum: UsageSummary = {
      tenantId,
      period,
      jobs: 0,
      calls: 0,
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      awsCostUsd: 0,
    };
    for (const item of items) {
      sum.jobs += Number(item.jobs);
      sum.calls += Number(item.calls);
      sum.inputTokens += Number(item.inputTokens);
      sum.cachedInputTokens += Number(item.cachedInputTokens);
      sum.outputTokens += Number(item.outputTokens);
      costMicro += Math.round(Number(item.costUsd) * MICRO);
      awsE8 += Math.round(Number(item.awsCostUsd ?? 0) * AWS_UNIT);
    }
    return { ...sum, costUsd: usd(costMicro / MICRO), awsCostUsd: awsE8 / AWS_UNIT };
  }
}
