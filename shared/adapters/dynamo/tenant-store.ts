import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor } from '#shared/adapters/dynamo/cursor';
import { keys, tenantKeys } from '#shared/adapters/dynamo/keys';
import { queryByPrefix } from '#shared/adapters/dynamo/pages';
import { AuthError, BudgetExceededError, NotFoundError, RequestValidationError } from '#shared/domain/errors';
import { costUsd, tokenTotals } from '#shared/domain/measures';
import { type Tenant, type TenantSettings, usagePeriod, usd } from '#shared/domain/tenant';
import type { PriceTable, StepRecord } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import type { Page } from '#shared/ports/paging';
import type {
  BudgetLedger,
  IdempotencyStore,
  JobCharge,
  TenantStore,
  UsageSummary,
} from '#shared/ports/tenants';

const TENANT_INDEX = 'gsi1';

/** Idempotency claims expire after a day (DynamoDB TTL), as retried requests come within minutes. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/**
 * How long a settlement's marker stays on the tenant item. Settling runs again only when a Lambda is
 * retried or two paths close the same job at once, both within seconds; older markers are trimmed.
 */
const SETTLE_MARKER_TTL_MS = 3600_000;

/** A conditional write that did not apply (the SDK's exception class, as the document client rethrows it). */
export const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException;

function toTenant(item: Record<string, unknown>): Tenant {
  return {
    tenantId: item.tenantId as string,
    name: item.name as string,
    status: item.status as Tenant['status'],
    createdAt: item.createdAt as string,
    keyHash: item.keyHash as string,
    budgetUsd: usd(Number(item.budgetUsd)),
    availableUsd: usd(Number(item.availableUsd)),
    reservedUsd: usd(Number(item.reservedUsd)),
    spentUsd: usd(Number(item.spentUsd)),
    maxSubagents: Number(item.maxSubagents),
    ...(item.annealJobs === undefined ? {} : { annealJobs: Number(item.annealJobs) }),
    ...(item.weights === undefined ? {} : { weights: item.weights as Tenant['weights'] }),
  };
}

/**
 * Tenants, budgets, usage and idempotency claims in the single table, every key under
 * `TENANT#<tenantId>` (a job's budget record sits in the job's partition, which leads with the
 * tenant too). dynalite has no transactions, so every multi-item change is a sequence of
 * conditional writes, ordered so that a crash can strand money on the safe side (held, never
 * overspent) and a retry never applies a change twice.
 */
export class DynamoTenantStore implements TenantStore, BudgetLedger, IdempotencyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  // ── tenants ────────────────────────────────────────────────────────────────────────────────

  async createTenant(tenant: Tenant): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: tenantKeys.pk(tenant.tenantId),
          sk: tenantKeys.tenant,
          gsi1pk: tenantKeys.allTenantsPk,
          gsi1sk: tenantKeys.allTenantsSk(tenant.createdAt, tenant.tenantId),
          ...tenant,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getTenant(tenantId: string): Promise<Tenant | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: tenantKeys.pk(tenantId), sk: tenantKeys.tenant },
        ConsistentRead: true,
      }),
    );
    return out.Item ? toTenant(out.Item) : undefined;
  }

  private async requireTenant(tenantId: string): Promise<Tenant> {
    const tenant = await this.getTenant(tenantId);
    if (!tenant) throw new NotFoundError(`tenant ${tenantId} does not exist`);
    return tenant;
  }

  async listTenants(opts: { limit?: number; cursor?: string } = {}): Promise<Page<Tenant>> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: TENANT_INDEX,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': tenantKeys.allTenantsPk },
        Limit: opts.limit ?? 100,
        ExclusiveStartKey: decodeCursor(opts.cursor, (k) => k.gsi1pk === tenantKeys.allTenantsPk),
      }),
    );
    const nextCursor = encodeCursor(out.LastEvaluatedKey);
    return { items: (out.Items ?? []).map(toTenant), ...(nextCursor ? { nextCursor } : {}) };
  }

  async adjustBudget(tenantId: string, deltaUsd: number): Promise<Tenant> {
    const delta = usd(deltaUsd);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: tenantKeys.pk(tenantId), sk: tenantKeys.tenant },
          UpdateExpression: 'SET budgetUsd = budgetUsd + :d, availableUsd = availableUsd + :d',
          ConditionExpression: 'attribute_exists(pk) AND availableUsd >= :floor',
          ExpressionAttributeValues: { ':d': delta, ':floor': delta < 0 ? -delta : 0 },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toTenant(out.Attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const tenant = await this.requireTenant(tenantId);
      throw new RequestValidationError(
        'budgetUsd',
        `cannot go below what is spent or held by running jobs: $${usd(tenant.budgetUsd - tenant.availableUsd)}`,
      );
    }
  }

  updateSettings(tenantId: string, settings: TenantSettings): Promise<Tenant> {
    return this.setFields(tenantId, settings);
  }

  async revokeKey(tenantId: string): Promise<void> {
    await this.setFields(tenantId, { status: 'REVOKED' });
  }

  async rotateKey(tenantId: string, keyHash: string): Promise<void> {
    await this.setFields(tenantId, { keyHash, status: 'ACTIVE' });
  }

  /** Sets the given fields of an existing tenant (NotFoundError without one) and nothing else. */
  private async setFields(tenantId: string, fields: Record<string, unknown>): Promise<Tenant> {
    const tenant = await this.requireTenant(tenantId);
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return tenant;
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: tenantKeys.pk(tenantId), sk: tenantKeys.tenant },
        UpdateExpression: `SET ${entries.map(([k]) => `#${k} = :${k}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: Object.fromEntries(entries.map(([k]) => [`#${k}`, k])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([k, v]) => [`:${k}`, v])),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toTenant(out.Attributes ?? {});
  }

  // ── idempotency ────────────────────────────────────────────────────────────────────────────

  async claim(
    tenantId: string,
    key: string,
    claim: { jobId: string; requestHash: string },
  ): Promise<{ jobId: string; requestHash: string }> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: tenantKeys.pk(tenantId),
            sk: tenantKeys.idempotency(key),
            ...claim,
            createdAt: new Date().toISOString(),
            ttl: Math.floor(Date.now() / 1000) + IDEMPOTENCY_TTL_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return claim;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const out = await this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: tenantKeys.pk(tenantId), sk: tenantKeys.idempotency(key) },
          ConsistentRead: true,
        }),
      );
      return { jobId: out.Item?.jobId as string, requestHash: out.Item?.requestHash as string };
    }
  }

  // ── budgets ────────────────────────────────────────────────────────────────────────────────

  private budgetKey(ref: JobRef) {
    return { pk: keys.jobPk(ref), sk: tenantKeys.budget };
  }

  private async getBudget(ref: JobRef): Promise<Record<string, unknown> | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: this.budgetKey(ref), ConsistentRead: true }),
    );
    return out.Item;
  }

  /** Takes `amount` from the tenant's available balance, or explains why it cannot. */
  private async holdFromTenant(tenantId: string, amount: number, what: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: tenantKeys.pk(tenantId), sk: tenantKeys.tenant },
          UpdateExpression: 'SET availableUsd = availableUsd - :a, reservedUsd = reservedUsd + :a',
          ConditionExpression: 'attribute_exists(pk) AND #s = :active AND availableUsd >= :a',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':a': amount, ':active': 'ACTIVE' },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const tenant = await this.requireTenant(tenantId);
      if (tenant.status !== 'ACTIVE') throw new AuthError(`tenant ${tenantId} is revoked`, true);
      throw new BudgetExceededError(
        `the budget cannot cover ${what}: it needs $${amount.toFixed(4)} and $${tenant.availableUsd.toFixed(4)} of the $${tenant.budgetUsd.toFixed(2)} budget is available`,
        { requiredUsd: amount, availableUsd: tenant.availableUsd },
      );
    }
  }

  async reserve(ref: JobRef, estimateUsd: number): Promise<void> {
    if (await this.getBudget(ref)) return; // a repeated submission of the same job
    const amount = usd(estimateUsd);
    await this.holdFromTenant(ref.tenantId, amount, 'this job');
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.budgetKey(ref),
            reservedUsd: amount,
            heldUsd: amount,
            remainingUsd: amount,
            createdAt: new Date().toISOString(),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // A concurrent duplicate reserved first: give this hold back.
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: tenantKeys.pk(ref.tenantId), sk: tenantKeys.tenant },
          UpdateExpression: 'SET availableUsd = availableUsd + :a, reservedUsd = reservedUsd - :a',
          ExpressionAttributeValues: { ':a': amount },
        }),
      );
    }
  }

  async authorizeCall(ref: JobRef, maxUsd: number): Promise<number> {
    const amount = usd(maxUsd);
    for (let round = 0; round < 4; round++) {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.budgetKey(ref),
            UpdateExpression: 'SET remainingUsd = remainingUsd - :a',
            ConditionExpression:
              'attribute_exists(pk) AND remainingUsd >= :a AND attribute_not_exists(charge)',
            ExpressionAttributeValues: { ':a': amount },
          }),
        );
        return amount;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const budget = await this.getBudget(ref);
      if (!budget) return 0; // a job without a budget (local runs of `parl run`)
      if (budget.charge) {
        throw new BudgetExceededError('the job has already been settled; no further model calls', {
          requiredUsd: amount,
          availableUsd: 0,
        });
      }
      // Top up the job's reservation by a quarter of it at least, so top-ups stay rare.
      const topUp = usd(Math.max(amount, Number(budget.reservedUsd) * 0.25));
      await this.holdFromTenant(ref.tenantId, topUp, 'the next model call of this job');
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.budgetKey(ref),
          UpdateExpression: 'SET remainingUsd = remainingUsd + :t, heldUsd = heldUsd + :t',
          ExpressionAttributeValues: { ':t': topUp },
        }),
      );
    }
    throw new BudgetExceededError('the job could not authorize a model call (contended budget)', {
      requiredUsd: amount,
      availableUsd: 0,
    });
  }

  async completeCall(ref: JobRef, authorizedUsd: number, actualUsd: number): Promise<void> {
    if (authorizedUsd <= 0) return;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.budgetKey(ref),
          UpdateExpression: 'SET remainingUsd = remainingUsd + :d',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(charge)',
          ExpressionAttributeValues: { ':d': usd(authorizedUsd - actualUsd) },
        }),
      );
    } catch (error) {
      // Settled meanwhile: settlement charged from the step records, so there is nothing to return.
      if (!isConditionFailure(error)) throw error;
    }
  }

  /**
   * 1. freeze the charge on the job's budget record (the first settlement's figures win)
   * 2. move the money on the tenant item once (a marker in a string set guards against a repeat)
   * 3. put the job's usage record (same key, same figures: idempotent)
   * 4. mark the budget record DONE and trim old markers
   */
  async settle(
    ref: JobRef,
    acceptedAt: string,
    steps: readonly StepRecord[],
    prices: PriceTable,
  ): Promise<void> {
    const totals = tokenTotals(steps);
    const figures: JobCharge = {
      period: usagePeriod(acceptedAt),
      jobs: 1,
      calls: steps.length,
      inputTokens: totals.input,
      cachedInputTokens: totals.cachedInput,
      outputTokens: totals.output,
      costUsd: usd(costUsd(totals, prices)),
      settledAt: Date.now(),
    };
    const budget = await this.getBudget(ref);
    if (!budget) {
      await this.putUsage(ref, figures);
      return;
    }
    if (budget.state === 'DONE') return;
    let charge = budget.charge as JobCharge | undefined;
    if (!charge) {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.budgetKey(ref),
            UpdateExpression: 'SET charge = :c, #st = :settling',
            ConditionExpression: 'attribute_not_exists(charge)',
            ExpressionAttributeNames: { '#st': 'state' },
            ExpressionAttributeValues: { ':c': figures, ':settling': 'SETTLING' },
          }),
        );
        charge = figures;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        charge = (await this.getBudget(ref))?.charge as JobCharge;
      }
    }
    const held = usd(Number(budget.heldUsd));
    const charged = usd(Math.min(charge.costUsd, held));
    // The marker is the same string on every retry: the frozen settlement time and the job.
    const marker = `${charge.settledAt}#${ref.jobId}`;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: tenantKeys.pk(ref.tenantId), sk: tenantKeys.tenant },
          UpdateExpression:
            'SET availableUsd = availableUsd + :release, reservedUsd = reservedUsd - :held, spentUsd = spentUsd + :charged ADD settleMarkers :markers',
          ConditionExpression: 'attribute_exists(pk) AND NOT contains(settleMarkers, :marker)',
          ExpressionAttributeValues: {
            ':release': usd(held - charged),
            ':held': held,
            ':charged': charged,
            ':markers': new Set([marker]),
            ':marker': marker,
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    await this.putUsage(ref, charge);
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.budgetKey(ref),
        UpdateExpression: 'SET #st = :done',
        ExpressionAttributeNames: { '#st': 'state' },
        ExpressionAttributeValues: { ':done': 'DONE' },
      }),
    );
    await this.trimSettleMarkers(ref.tenantId);
  }

  /** Drops settlement markers older than SETTLE_MARKER_TTL_MS, so the tenant item stays small. */
  private async trimSettleMarkers(tenantId: string): Promise<void> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: tenantKeys.pk(tenantId), sk: tenantKeys.tenant },
        ProjectionExpression: 'settleMarkers',
      }),
    );
    const cutoff = Date.now() - SETTLE_MARKER_TTL_MS;
    const stale = [...((out.Item?.settleMarkers as Set<string> | undefined) ?? [])].filter(
      (m) => Number(m.split('#')[0]) < cutoff,
    );
    if (stale.length === 0) return;
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: tenantKeys.pk(tenantId), sk: tenantKeys.tenant },
        UpdateExpression: 'DELETE settleMarkers :stale',
        ExpressionAttributeValues: { ':stale': new Set(stale) },
      }),
    );
  }

  private async putUsage(ref: JobRef, charge: JobCharge): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: tenantKeys.pk(ref.tenantId),
          sk: tenantKeys.usage(charge.period, ref.jobId),
          jobId: ref.jobId,
          ...charge,
        },
      }),
    );
  }

  async usage(tenantId: string, period: string): Promise<UsageSummary> {
    const sum: UsageSummary = {
      tenantId,
      period,
      jobs: 0,
      calls: 0,
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
    };
    const items = await queryByPrefix(
      this.client,
      this.tableName,
      tenantKeys.pk(tenantId),
      tenantKeys.usagePrefix(period),
    );
    for (const item of items) {
      sum.jobs += Number(item.jobs);
      sum.calls += Number(item.calls);
      sum.inputTokens += Number(item.inputTokens);
      sum.cachedInputTokens += Number(item.cachedInputTokens);
      sum.outputTokens += Number(item.outputTokens);
      sum.costUsd = usd(sum.costUsd + Number(item.costUsd));
    }
    return sum;
  }
}
