import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { queryPages, scanPages } from '#shared/adapters/dynamo/pages';
import { useDynaliteTable } from './dynalite-table';

/** The paged reads (pages.ts) against dynalite: every page, following `LastEvaluatedKey` to the end. */
describe('queryPages and scanPages on dynalite', () => {
  const table = useDynaliteTable();
  const sks = ['a', 'b', 'c', 'd', 'e'];

  beforeAll(async () => {
    for (const sk of sks)
      await table.doc.send(new PutCommand({ TableName: table.tableName, Item: { pk: 'p', sk } }));
  });

  it('reads every page of a query, two items a page, to the last item', async () => {
    // Prepare
    const seen: string[][] = [];
    // Act
    for await (const page of queryPages(table.doc, {
      TableName: table.tableName,
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
    for await (const page of scanPages(table.doc, {
      TableName: table.tableName,
      Limit: 2,
      ExclusiveStartKey: { pk: 'p', sk: 'a' },
    })) {
      seen.push(...(page.Items ?? []).map((item) => String(item.sk)));
    }
    // Assess
    expect(seen).toEqual(['b', 'c', 'd', 'e']);
  });
});
