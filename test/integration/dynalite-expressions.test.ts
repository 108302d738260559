import { GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { useDynaliteTable } from './dynalite-table';

/**
 * dynalite keeps each parsed expression (patches/dynalite+4.0.0.patch) and gives a request of the
 * same shape a copy with its own values: these are what a kept parse must not change.
 */
const table = useDynaliteTable();

let n = 0;
/** A key no other test writes. */
const freshKey = () => ({ pk: 'TEST#expressions', sk: `item#${++n}` });

const update = (input: Omit<UpdateCommandInput, 'TableName'>) =>
  table.doc.send(new UpdateCommand({ TableName: table.tableName, ...input }));

const read = async (key: Record<string, string>) =>
  (await table.doc.send(new GetCommand({ TableName: table.tableName, Key: key }))).Item;

const SET_AND_ADD = {
  UpdateExpression: 'SET label = :label, #role = :role ADD uses :one',
  ConditionExpression: 'attribute_not_exists(leaseId) OR expiresAt <= :at',
  ExpressionAttributeNames: { '#role': 'role' },
};

describe('an expression dynalite has parsed before', () => {
  it('writes each request’s own values', async () => {
    const keys = [freshKey(), freshKey(), freshKey()];
    for (const [i, key] of keys.entries())
      await update({
        Key: key,
        ...SET_AND_ADD,
        ExpressionAttributeValues: { ':label': `label ${i}`, ':role': `role ${i}`, ':one': i + 1, ':at': i },
      });
    expect(await Promise.all(keys.map(read))).toEqual(
      keys.map((key, i) => ({ ...key, label: `label ${i}`, role: `role ${i}`, uses: i + 1 })),
    );
  });

  it('evaluates its condition against each request’s own values', async () => {
    const key = freshKey();
    const lease = (at: number, expiresAt: number) =>
      update({
        Key: key,
        UpdateExpression: 'SET leaseId = :id, expiresAt = :exp',
        ConditionExpression: 'attribute_not_exists(leaseId) OR expiresAt <= :at',
        ExpressionAttributeValues: { ':id': `lease at ${at}`, ':exp': expiresAt, ':at': at },
      });
    await lease(0, 100);
    await expect(lease(50, 200)).rejects.toThrow(/conditional request failed/i);
    await lease(100, 300);
    expect((await read(key))?.leaseId).toBe('lease at 100');
  });

  it('still rejects a value of another type where the parse checks types', async () => {
    const add = (one: unknown) =>
      update({
        Key: freshKey(),
        UpdateExpression: 'ADD uses :one',
        ExpressionAttributeValues: { ':one': one },
      });
    await add(1);
    await expect(add('one')).rejects.toThrow(
      /Incorrect operand type for operator or function; operator: ADD/,
    );
  });

  it('counts as used exactly the values the kept expression itself uses', async () => {
    // First parsed where the update expression uses both values, then with one that uses either.
    const both = { ':v': 'x', ':w': 'y' };
    const withCondition = (UpdateExpression: string) =>
      update({
        Key: freshKey(),
        UpdateExpression,
        ConditionExpression: 'attribute_not_exists(b) OR b = :v',
        ExpressionAttributeValues: both,
      });
    await withCondition('SET a = :v, c = :w');
    await withCondition('SET a = :w');
    await expect(withCondition('SET a = :v')).rejects.toThrow(/unused in expressions: keys: \{:w\}/);
  });

  it('checks BETWEEN’s bounds in every request (they are compared, so never kept)', async () => {
    const between = (lo: number, hi: number) =>
      update({
        Key: freshKey(),
        UpdateExpression: 'SET a = :lo',
        ConditionExpression: 'attribute_not_exists(n) OR n BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':lo': lo, ':hi': hi },
      });
    await between(1, 2);
    await expect(between(3, 2)).rejects.toThrow(/requires upper bound to be greater than or equal/);
  });
});
