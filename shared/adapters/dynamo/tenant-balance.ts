import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure, requireTenant, tenantItemKey } from '#shared/adapters/dynamo/tenant-item';
import { AuthError, BudgetExceededError, TenantLimitError } from '#shared/domain/errors';
import type { ReserveOptions } from '#shared/ports/ledger';

/**
 * Money moving between a tenant's available balance and what its jobs hold (the tenant item's
 * `availableUsd` and `reservedUsd`): the budget ledger's conditional writes on the tenant item.
 */

/** When a tenant at its jobs-at-once limit may try again (a job runs for seconds to minutes). */
const CONCURRENT_JOBS_RETRY_AFTER_SECONDS = 10;

/**
 * Takes `amount` from the tenant's available balance, or explains why it cannot. For a new job
 * (`job`) it also counts the job active, within `job.maxConcurrentJobs` when set.
 */
export async function holdFromTenant(
  client: DynamoDBDocumentClient,
  tableName: string,
  tenantId: string,
  amount: number,
  what: string,
  job?: ReserveOptions,
): Promise<void> {
  const limit = job?.maxConcurrentJobs;
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: tenantItemKey(tenantId),
        UpdateExpression: `SET availableUsd = availableUsd - :a, reservedUsd = reservedUsd + :a${job ? ', activeJobs = if_not_exists(activeJobs, :zero) + :one' : ''}`,
        ConditionExpression: `attribute_exists(pk) AND #s = :active AND availableUsd >= :a${limit === undefined ? '' : ' AND (attribute_not_exists(activeJobs) OR activeJobs < :limit)'}`,
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ':a': amount,
          ':active': 'ACTIVE',
          ...(job ? { ':zero': 0, ':one': 1 } : {}),
          ...(limit === undefined ? {} : { ':limit': limit }),
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const tenant = await requireTenant(client, tableName, tenantId);
    if (tenant.status !== 'ACTIVE') throw new AuthError(`tenant ${tenantId} is revoked`, true);
    if (limit !== undefined && (tenant.activeJobs ?? 0) >= limit) {
      throw new TenantLimitError(
        `the tenant runs ${tenant.activeJobs} jobs, its limit of jobs at once (maxConcurrentJobs ${limit}); submit again once one has ended`,
        {
          limit: 'maxConcurrentJobs',
          value: limit,
          retryAfterSeconds: CONCURRENT_JOBS_RETRY_AFTER_SECONDS,
        },
      );
    }
    throw new BudgetExceededError(
      `the budget cannot cover ${what}: it needs $${amount.toFixed(4)} and $${tenant.availableUsd.toFixed(4)} of the $${tenant.budgetUsd.toFixed(2)} budget is available`,
      { requiredUsd: amount, availableUsd: tenant.availableUsd },
    );
  }
}

/** Gives `amount` held for a job that could not take it back to the tenant's available balance. */
export async function returnToTenant(
  client: DynamoDBDocumentClient,
  tableName: string,
  tenantId: string,
  amount: number,
): Promise<void> {
  await client.send(
    new UpdateCommand({
      TableName: tableName,
      Key: tenantItemKey(tenantId),
      UpdateExpression: 'SET availableUsd = availableUsd + :a, reservedUsd = reservedUsd - :a',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':a': amount },
    }),
  );
}
