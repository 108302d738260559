import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { isConditionFailure } from '#shared/adapters/dynamo/tenant-item';
import type { RequestLimiter } from '#shared/ports/request-limiter';

/**
 * A tenant's requests per second as a fixed one-second window on one item of its partition
 * (`TENANT#<tenantId>` / `REQUESTS`): one conditional write per request in the common case (two
 * when a new second starts), shared by every API Lambda, constant in the number of tenants.
 * A fixed window lets a tenant burst up to twice its rate across a second's boundary; that is
 * the price of one write per request (a token bucket needs a read and a write).
 */
export class DynamoRequestWindow implements RequestLimiter {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async admit(tenantId: string, perSecond: number) {
    // One clock read: a caller that lost the race to open its second counts in the one opened
    // (at or after its own) on its second try, however slow its writes were.
    const second = Math.floor(this.now() / 1000);
    for (let round = 0; round < 2; round++) {
      if (await this.countWithin(tenantId, second, perSecond)) return { admitted: true } as const;
      if (await this.openSecond(tenantId, second)) return { admitted: true } as const;
    }
    // This second is full (or another caller's clock is a second ahead): wait for the next one.
    return { admitted: false, retryAfterSeconds: 1 } as const;
  }

  private key(tenantId: string) {
    return { pk: keys.tenantPk(tenantId), sk: keys.requestWindow };
  }

  /**
   * Counts the request within the open second, below the limit; false when none is open since
   * `second`, or it is full. A request whose clock read is behind the open second (read before a
   * pause) counts in the open one.
   */
  private async countWithin(tenantId: string, second: number, perSecond: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId),
          UpdateExpression: 'SET #n = #n + :one',
          ConditionExpression: '#w >= :second AND #n < :limit',
          ExpressionAttributeNames: { '#w': 'windowSecond', '#n': 'requests' },
          ExpressionAttributeValues: { ':one': 1, ':second': second, ':limit': perSecond },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  /** Opens the current second with this request (the first of the second, or of the tenant); false when already open. */
  private async openSecond(tenantId: string, second: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(tenantId),
          UpdateExpression: 'SET #w = :second, #n = :one',
          ConditionExpression: 'attribute_not_exists(#w) OR #w < :second',
          ExpressionAttributeNames: { '#w': 'windowSecond', '#n': 'requests' },
          ExpressionAttributeValues: { ':one': 1, ':second': second },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }
}
