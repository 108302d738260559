import { createHash } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { untilActive } from '#local/emulators/dynamo';
import { rawRequest, startKeyTable, useDynaliteTable } from './dynalite-table';

/**
 * dynalite hashes each partition key once, parses each type of its request schema once and reads
 * a table's description once until the table changes (patches/dynalite+4.0.0.patch): what those
 * memos must not change.
 */
const table = useDynaliteTable(() => startKeyTable('memos'));

const raw = (target: string, body: unknown) => rawRequest(table.dynamo.endpoint, target, body);

describe('dynalite with its memos', () => {
  it('keeps the items of partitions apart, one sort key in each of many', async () => {
    const pks = Array.from({ length: 60 }, (_, i) => `JOB#${i}`);
    for (let i = 0; i < pks.length; i += 20) {
      const part = pks.slice(i, i + 20);
      await table.doc.send(
        new BatchWriteCommand({
          RequestItems: {
            memos: part.map((pk) => ({ PutRequest: { Item: { pk, sk: 'AGENT#1', of: pk } } })),
          },
        }),
      );
    }
    // A Scan goes by each key's hashed prefix, as dynalite hashes it without the memo.
    const prefix = (pk: string) => createHash('md5').update('Outliers').update(pk).digest('hex').slice(0, 6);
    const hex = (pk: string) => Buffer.from(pk).toString('hex');
    const scanned = await table.doc.send(new ScanCommand({ TableName: 'memos' }));
    const byPrefix = [...pks].sort((a, b) => (`${prefix(a)}/${hex(a)}` < `${prefix(b)}/${hex(b)}` ? -1 : 1));
    expect(scanned.Items?.map((item) => item.pk)).toEqual(byPrefix);
    for (const pk of [pks[0], pks[31], pks[59]]) {
      const got = await table.doc.send(new GetCommand({ TableName: 'memos', Key: { pk, sk: 'AGENT#1' } }));
      expect(got.Item?.of).toBe(pk);
      const listed = await table.doc.send(
        new QueryCommand({
          TableName: 'memos',
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
        }),
      );
      expect(listed.Items?.map((item) => item.of)).toEqual([pk]);
    }
  });

  it('still refuses a value of the wrong type, after requests of the same shape were taken', async () => {
    const item = (n: unknown) => ({ pk: { S: 'TYPES' }, sk: { S: 'x' }, n: { N: n } });
    const ok = await raw('PutItem', { TableName: 'memos', Item: item('1') });
    expect(ok, JSON.stringify(ok)).toMatchObject({ status: 200 });
    const wrong = await raw('PutItem', { TableName: 'memos', Item: item(true) });
    expect(wrong.status).toBe(400);
    expect(wrong.body.__type).toMatch(/SerializationException/);
    const nested = await raw('PutItem', {
      TableName: 'memos',
      Item: { pk: { S: 'TYPES' }, sk: { S: 'y' }, m: { M: { inner: { L: [{ S: 'ok' }, { N: false }] } } } },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.__type).toMatch(/SerializationException/);
  });

  it('reads a table as it is after DeleteTable and CreateTable, not as it was', async () => {
    const put = (name: string, item: Record<string, unknown>) =>
      table.doc.send(new PutCommand({ TableName: name, Item: item }));
    await put('memos', { pk: 'BEFORE', sk: 'x' });
    await table.doc.send(new DeleteTableCommand({ TableName: 'memos' }));
    await expect(put('memos', { pk: 'GONE', sk: 'x' })).rejects.toThrow(/not found/);
    // The same name again, keyed by `id` alone: the old key schema must be forgotten.
    await table.doc.send(
      new CreateTableCommand({
        TableName: 'memos',
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await untilActive(table.doc, 'memos');
    await put('memos', { id: 'AFTER' });
    await expect(put('memos', { pk: 'OLD', sk: 'x' })).rejects.toThrow(/key/i);
    const got = await table.doc.send(new GetCommand({ TableName: 'memos', Key: { id: 'AFTER' } }));
    expect(got.Item).toEqual({ id: 'AFTER' });
    await expect(
      table.doc.send(
        new BatchWriteCommand({
          RequestItems: { memos: [{ PutRequest: { Item: { pk: 'OLD', sk: 'y' } } }] },
        }),
      ),
    ).rejects.toThrow(/key/i);
  });
});
