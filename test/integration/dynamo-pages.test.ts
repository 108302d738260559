import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startDynalite, untilActive } from '#local/emulators/dynamo';
import { createDynamoClient, createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { queryPages, scanPages } from '#shared/adapters/dynamo/pages';

const TABLE = 'Pages';

/** The paged reads (pages.ts) against dynalite: every page, following `LastEvaluatedKey` to the end. */
describe('queryPages and scanPages on dynalite', () => {
  let dynamo: LocalDynamo;
  let db: DynamoDBDocumentClient;
  const sks = ['a', 'b', 'c', 'd', 'e'];

  beforeAll(async () => {
    dynamo = await startDynalite();
    db = createDynamoDocumentClient({ region: 'us-east-1', dynamodbEndpoint: dynamo.endpoint });
    await db.send(
      new CreateTableCommand({
        TableName: TABLE,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // dynalite answers CREATING and turns the table ACTIVE on a timer: wait, as a DynamoDB client must.
    await untilActive(createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: dynamo.endpoint }), TABLE);
    for (const sk of sks) await db.send(new PutCommand({ TableName: TABLE, Item: { pk: 'p', sk } }));
  });
  afterAll(async () => {
    await dynamo?.close();
  });

  it('reads every page of a query, two items a page, to the last item', async () => {
    // Prepare
    const seen: string[][] = [];
    // Act
    for await (const page of queryPages(db, {
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'p' },
      Limit: 2,
    })) {
      seen.push((page.Items ?? []).map((item) => String(item.sk)));
    }
    // Assess
    expect(seen.flat()).toEqual(sks);
    expect(seen.slice(0, 3)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('reads every page of a scan, from the start key it is given', async () => {
    // Prepare
    const seen: string[] = [];
    // Act
    for await (const page of scanPages(db, {
      TableName: TABLE,
      Limit: 2,
      ExclusiveStartKey: { pk: 'p', sk: 'a' },
    })) {
      seen.push(...(page.Items ?? []).map((item) => String(item.sk)));
    }
    // Assess
    expect(seen).toEqual(['b', 'c', 'd', 'e']);
  });
});
