import { describe, expect, it } from 'vitest';
import { rawRequest, startKeyTable, useDynaliteTable } from './dynalite-table';

/**
 * dynalite checks a request's members against its schema writing a member's path and a
 * constraint's message only when one fails, copies a scalar AttributeValue without checking each of
 * its ten types, and takes a number already in its plain form as it is
 * (patches/dynalite+4.0.0.patch). The messages and stored numbers below are those dynalite gave
 * before that patch: what it must still answer.
 */
const table = useDynaliteTable(() => startKeyTable('checks'));

const raw = (target: string, body: unknown) => rawRequest(table.dynamo.endpoint, target, body);

const key = (pk: string) => ({ pk: { S: pk }, sk: { S: 'A' } });
const refused = (message: string) => ({
  status: 400,
  body: { __type: 'com.amazon.coral.validate#ValidationException', message },
});

describe('dynalite checking requests', () => {
  it('names the member that failed by its path, with the constraint it failed', async () => {
    expect(await raw('BatchWriteItem', { RequestItems: { checks: [{ DeleteRequest: {} }] } })).toEqual(
      refused(
        "1 validation error detected: Value null at 'requestItems.checks.member.1.member.deleteRequest.key' failed to satisfy constraint: Member must not be null",
      ),
    );
    expect(await raw('PutItem', { TableName: 'ab', Item: key('a') })).toEqual(
      refused(
        "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3",
      ),
    );
    expect(await raw('PutItem', { TableName: 'a b c', Item: key('a') })).toEqual(
      refused(
        "1 validation error detected: Value 'a b c' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
      ),
    );
    expect(await raw('PutItem', { TableName: 'checks', Item: key('a'), ReturnValues: 'BOGUS' })).toEqual(
      refused(
        "1 validation error detected: Value 'BOGUS' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]",
      ),
    );
    expect(await raw('Scan', { TableName: 'checks', Segment: -1, TotalSegments: 0 })).toEqual(
      refused(
        "2 validation errors detected: Value '0' at 'totalSegments' failed to satisfy constraint: Member must have value greater than or equal to 1; Value '-1' at 'segment' failed to satisfy constraint: Member must have value greater than or equal to 0",
      ),
    );
  });

  it('refuses more than 25 writes in one batch, and a number out of range or not a number', async () => {
    const put = (i: number) => ({ PutRequest: { Item: { ...key(`k${i}`), n: { N: '1' } } } });
    const batch = await raw('BatchWriteItem', {
      RequestItems: { checks: Array.from({ length: 26 }, (_, i) => put(i)) },
    });
    expect(batch.status).toBe(400);
    expect(String(batch.body.message)).toMatch(
      /^1 validation error detected: Value '.*' at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: \[Member must have length less than or equal to 25, Member must have length greater than or equal to 1\]$/,
    );
    expect(await raw('PutItem', { TableName: 'checks', Item: { ...key('a'), n: { N: '1e200' } } })).toEqual(
      refused('Number overflow. Attempting to store a number with magnitude larger than supported range'),
    );
    expect(await raw('PutItem', { TableName: 'checks', Item: { ...key('a'), n: { N: 'abc' } } })).toEqual(
      refused('The parameter cannot be converted to a numeric value: abc'),
    );
  });

  it('stores numbers in their plain form, whether they came in it or not', async () => {
    const numbers = { a: '1.50', b: '0012', c: '-0', d: '99.990', e: '1733600000000', f: '-0.25', g: '7' };
    const item = Object.fromEntries(Object.entries(numbers).map(([k, n]) => [k, { N: n }]));
    const put = await raw('BatchWriteItem', {
      RequestItems: { checks: [{ PutRequest: { Item: { ...key('nums'), ...item } } }] },
    });
    expect(put).toEqual({ status: 200, body: { UnprocessedItems: {} } });
    const got = await raw('GetItem', { TableName: 'checks', Key: key('nums') });
    expect(got.body.Item).toEqual({
      ...key('nums'),
      a: { N: '1.5' },
      b: { N: '12' },
      c: { N: '0' },
      d: { N: '99.99' },
      e: { N: '1733600000000' },
      f: { N: '-0.25' },
      g: { N: '7' },
    });
  });
});
