import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { NotFoundError } from '#shared/domain/errors';
import { type Tenant, usd } from '#shared/domain/tenant';

/**
 * The tenant item (`TENANT#<tenantId>` / `TENANT`), which the tenant store writes and the budget
 * ledger moves money on: its key, how it reads back, and the condition failures both expect.
 */

/** A conditional write that did not apply (the SDK's exception class, as the document client rethrows it). */
export const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException;

/** The key of a tenant's own item. */
export const tenantItemKey = (tenantId: string) => ({ pk: keys.tenantPk(tenantId), sk: keys.tenant });

export function toTenant(item: Record<string, unknown>): Tenant {
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
    ...(item.requestsPerSecond === undefined ? {} : { requestsPerSecond: Number(item.requestsPerSecond) }),
    ...(item.maxConcurrentJobs === undefined ? {} : { maxConcurrentJobs: Number(item.maxConcurrentJobs) }),
    ...(item.activeJobs === undefined ? {} : { activeJobs: Number(item.activeJobs) }),
  };
}

/** Reads a tenant (a consistent read), or undefined without one. */
export async function readTenant(
  client: DynamoDBDocumentClient,
  tableName: string,
  tenantId: string,
): Promise<Tenant | undefined> {
  const out = await client.send(
    new GetCommand({ TableName: tableName, Key: tenantItemKey(tenantId), ConsistentRead: true }),
  );
  return out.Item ? toTenant(out.Item) : undefined;
}

/** Reads a tenant; NotFoundError without one. */
export async function requireTenant(
  client: DynamoDBDocumentClient,
  tableName: string,
  tenantId: string,
): Promise<Tenant> {
  const tenant = await readTenant(client, tableName, tenantId);
  if (!tenant) throw new NotFoundError(`tenant ${tenantId} does not exist`);
  return tenant;
}
