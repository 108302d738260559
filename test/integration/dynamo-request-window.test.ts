import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startDynalite, untilActive } from '#local/emulators/dynamo';
import { createDynamoClient, createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { DynamoRequestWindow } from '#shared/adapters/dynamo/request-window';

const TABLE = 'Requests';

/** A tenant's requests per second (request-window.ts) against dynalite, on an injected clock. */
describe('DynamoRequestWindow on dynalite', () => {
  let dynamo: LocalDynamo;
  let db: DynamoDBDocumentClient;
  let tenantNo = 0;

  /** A window on a client that counts the writes it sends, its clock standing at `nowMs`. */
  const countingWindow = (nowMs: number) => {
    const sent = { writes: 0 };
    const counting = {
      send: (command: never) => {
        sent.writes++;
        return db.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    return { window: new DynamoRequestWindow(counting, TABLE, () => nowMs), sent };
  };

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
  });
  afterAll(async () => {
    await dynamo?.close();
  });

  it('writes twice for the first request of a second, once for each next one, and four times to refuse one past the limit', async () => {
    // Prepare: a tenant allowed 2 requests a second, all within one second
    const tenantId = `t-${++tenantNo}`;
    const { window, sent } = countingWindow(7_250);
    const writesOf = async () => {
      const before = sent.writes;
      const answer = await window.admit(tenantId, 2);
      return { answer, writes: sent.writes - before };
    };
    // Act
    const first = await writesOf();
    const second = await writesOf();
    const third = await writesOf();
    // Assess: the refusal tries each write twice (a caller that lost the race to open the second
    // counts in it on its second try) and no more
    expect(first).toEqual({ answer: { admitted: true }, writes: 2 });
    expect(second).toEqual({ answer: { admitted: true }, writes: 1 });
    expect(third).toEqual({ answer: { admitted: false, retryAfterSeconds: 1 }, writes: 4 });
  });
});
