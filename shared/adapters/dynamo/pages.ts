import {
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  ScanCommand,
  type ScanCommandInput,
  type ScanCommandOutput,
} from '@aws-sdk/lib-dynamodb';

/** Every page of a paged read, following `LastEvaluatedKey` until the last one. */
async function* pages<T extends { LastEvaluatedKey?: Record<string, unknown> }>(
  first: Record<string, unknown> | undefined,
  read: (start: Record<string, unknown> | undefined) => Promise<T>,
): AsyncGenerator<T> {
  let start = first;
  do {
    const out = await read(start);
    yield out;
    start = out.LastEvaluatedKey;
  } while (start);
}

/** Every page of a query. */
export function queryPages(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
): AsyncGenerator<QueryCommandOutput> {
  return pages(input.ExclusiveStartKey, (start) =>
    client.send(new QueryCommand({ ...input, ExclusiveStartKey: start })),
  );
}

/** Every page of a scan (local tables and tools only: a scan reads the whole table). */
export function scanPages(
  client: DynamoDBDocumentClient,
  input: ScanCommandInput,
): AsyncGenerator<ScanCommandOutput> {
  return pages(input.ExclusiveStartKey, (start) =>
    client.send(new ScanCommand({ ...input, ExclusiveStartKey: start })),
  );
}

/** Every item of partition `pk` whose sort key begins with `prefix` (a consistent read). */
export async function queryByPrefix(
  client: DynamoDBDocumentClient,
  tableName: string,
  pk: string,
  prefix: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  for await (const page of queryPages(client, {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
    ExpressionAttributeValues: { ':pk': pk, ':p': prefix },
    ConsistentRead: true,
  })) {
    items.push(...(page.Items ?? []));
  }
  return items;
}
