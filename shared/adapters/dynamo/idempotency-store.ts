import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { isConditionFailure } from '#shared/adapters/dynamo/tenant-item';
import type { IdempotencyStore } from '#shared/ports/idempotency';

/** Idempotency claims expire after a day (DynamoDB TTL), as retried requests come within minutes. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/**
 * Idempotency claims in the single table (`TENANT#<tenantId>` / `IDEMPOTENCY#<key>`), through an
 * injected document client: the first conditional put wins, a later claim reads it back.
 */
export class DynamoIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

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
            pk: keys.tenantPk(tenantId),
            sk: keys.idempotency(key),
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
          Key: { pk: keys.tenantPk(tenantId), sk: keys.idempotency(key) },
          ConsistentRead: true,
        }),
      );
      return { jobId: out.Item?.jobId as string, requestHash: out.Item?.requestHash as string };
    }
  }
}
