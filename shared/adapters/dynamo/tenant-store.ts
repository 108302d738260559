import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { decodeCursor, encodeCursor, INDEX_KEY } from '#shared/adapters/dynamo/cursor';
import { keys } from '#shared/adapters/dynamo/keys';
import {
  isConditionFailure,
  readTenant,
  requireTenant,
  tenantItemKey,
  toTenant,
} from '#shared/adapters/dynamo/tenant-item';
import { RequestValidationError, StateConflictError } from '#shared/domain/errors';
import { type Tenant, type TenantSettings, usd } from '#shared/domain/tenant';
import type { Page } from '#shared/ports/paging';
import type { TenantStore } from '#shared/ports/tenants';

/**
 * Tenants in the single table (`TENANT#<tenantId>` / `TENANT`, listed through the `TENANTS`
 * partition of the GSI), through an injected document client. Their balance moves through the
 * budget ledger (`DynamoBudgetLedger`); here only the budget itself and the settings change.
 */
export class DynamoTenantStore implements TenantStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createTenant(tenant: Tenant): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: keys.tenantPk(tenant.tenantId),
          sk: keys.tenant,
          gsi1pk: keys.allTenantsPk,
          gsi1sk: keys.allTenantsSk(tenant.createdAt, tenant.tenantId),
          ...tenant,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  getTenant(tenantId: string): Promise<Tenant | undefined> {
    return readTenant(this.client, this.tableName, tenantId);
  }

  async listTenants(opts: { limit?: number; cursor?: string } = {}): Promise<Page<Tenant>> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: keys.index,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': keys.allTenantsPk },
        Limit: opts.limit ?? 100,
        ExclusiveStartKey: decodeCursor(
          opts.cursor,
          INDEX_KEY,
          (k) => k.gsi1pk === keys.allTenantsPk && k.sk === keys.tenant,
        ),
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
          Key: tenantItemKey(tenantId),
          UpdateExpression: 'SET budgetUsd = budgetUsd + :d, availableUsd = availableUsd + :d',
          ConditionExpression: 'attribute_exists(pk) AND availableUsd >= :floor',
          ExpressionAttributeValues: { ':d': delta, ':floor': delta < 0 ? -delta : 0 },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toTenant(out.Attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const tenant = await requireTenant(this.client, this.tableName, tenantId);
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

  async rotateKey(tenantId: string, keyHash: string, opts: { reactivate?: boolean } = {}): Promise<void> {
    if (opts.reactivate) {
      await this.setFields(tenantId, { keyHash, status: 'ACTIVE' });
      return;
    }
    await requireTenant(this.client, this.tableName, tenantId);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: tenantItemKey(tenantId),
          UpdateExpression: 'SET keyHash = :h',
          ConditionExpression: 'attribute_exists(pk) AND #s = :active',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':h': keyHash, ':active': 'ACTIVE' },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new StateConflictError(
        `tenant ${tenantId} is revoked: rotating its key would not re-activate it (parl tenants reactivate ${tenantId} does)`,
      );
    }
  }

  /** Sets the given fields of an existing tenant (NotFoundError without one) and nothing else. */
  private async setFields(tenantId: string, fields: Record<string, unknown>): Promise<Tenant> {
    const tenant = await requireTenant(this.client, this.tableName, tenantId);
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return tenant;
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: tenantItemKey(tenantId),
        UpdateExpression: `SET ${entries.map(([k]) => `#${k} = :${k}`).join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: Object.fromEntries(entries.map(([k]) => [`#${k}`, k])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([k, v]) => [`:${k}`, v])),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toTenant(out.Attributes ?? {});
  }
}
