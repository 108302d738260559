import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from '#shared/adapters/dynamo/tenant-item';

/**
 * A lease on a job's budget record for refilling it (gathering the shards' unused money back, or
 * topping up from the tenant). Without it, two callers that find the record short at once both
 * gather: the first takes the shards' money, the second finds none (it is on its way to the
 * record) and tops up from the tenant although the reservation still covered the call. With it,
 * the second waits for the first and then finds the record refilled.
 *
 * A lease that its holder never ends (a Lambda that died mid-refill) runs out after
 * {@link REFILL_LEASE_MS}; the money it was moving is held, never lost (see the ledger).
 */
export const REFILL_LEASE_MS = 5_000;

/** How long a caller that found a refill under way waits before it looks at the record again. */
export const REFILL_POLL_MS = 10;

type Key = Record<string, string>;

/**
 * Takes the refill lease of the record at `key`: the record as it is once leased (its
 * `remainingUsd` is what the refill starts from), or undefined when another caller holds the lease.
 */
export async function leaseRefill(
  client: DynamoDBDocumentClient,
  tableName: string,
  key: Key,
  now = Date.now(),
): Promise<{ until: number; record: Record<string, unknown> } | undefined> {
  const until = now + REFILL_LEASE_MS;
  try {
    const out = await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression: 'SET refillUntil = :until',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(refillUntil) OR refillUntil < :now)',
        ExpressionAttributeValues: { ':until': until, ':now': now },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { until, record: out.Attributes ?? {} };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return undefined;
  }
}

/** Ends the lease taken at `until` (a no-op once it ran out and someone else took it). */
export async function endRefill(
  client: DynamoDBDocumentClient,
  tableName: string,
  key: Key,
  until: number,
): Promise<void> {
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: key,
        UpdateExpression: 'REMOVE refillUntil',
        ConditionExpression: 'refillUntil = :until',
        ExpressionAttributeValues: { ':until': until },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

/** Whether a refill of `record` is under way (its lease has not run out). */
export const refillUnderWay = (record: Record<string, unknown>, now = Date.now()): boolean =>
  Number(record.refillUntil ?? 0) >= now;
