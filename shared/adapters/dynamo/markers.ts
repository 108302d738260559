import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';

/**
 * How long a marker stays on its item. A marker (`<epoch ms>#<id>`, in a string set) stands for a
 * write already applied, which a conditional `ADD` then refuses to apply again; a retry comes within
 * seconds, so an hour is ample.
 */
export const MARKER_TTL_MS = 3600_000;

/**
 * Drops the markers of `attribute` on the item at `key` that are older than MARKER_TTL_MS, so the
 * item stays small: one read, and one write only when some are stale.
 */
export async function trimStaleMarkers(
  client: DynamoDBDocumentClient,
  tableName: string,
  key: Record<string, string>,
  attribute: 'settleMarkers' | 'countMarkers',
): Promise<void> {
  const out = await client.send(
    new GetCommand({ TableName: tableName, Key: key, ProjectionExpression: attribute }),
  );
  const cutoff = Date.now() - MARKER_TTL_MS;
  const stale = [...((out.Item?.[attribute] as Set<string> | undefined) ?? [])].filter(
    (m) => Number(m.split('#')[0]) < cutoff,
  );
  if (stale.length === 0) return;
  await client.send(
    new UpdateCommand({
      TableName: tableName,
      Key: key,
      UpdateExpression: `DELETE ${attribute} :stale`,
      ExpressionAttributeValues: { ':stale': new Set(stale) },
    }),
  );
}
