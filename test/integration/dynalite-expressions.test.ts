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

  describe('kept without its names (one template for every request that differs in them alone)', () => {
    it('writes and reads the attributes each request names', async () => {
      const key = freshKey();
      const claim = (slot: string, at: number) =>
        update({
          Key: key,
          UpdateExpression: 'SET #l = :lease ADD #u :one',
          ConditionExpression: 'attribute_not_exists(#l) OR #l.expiresAt <= :at',
          ExpressionAttributeNames: { '#l': `l${slot}`, '#u': `u${slot}` },
          ExpressionAttributeValues: {
            ':lease': { id: `lease ${slot}`, expiresAt: at + 100 },
            ':one': 1,
            ':at': at,
          },
        });
      await claim('3', 0);
      await claim('7', 0);
      // l3 is held until 100: its claim at 50 fails, l7's at 100 and l4's pass.
      await expect(claim('3', 50)).rejects.toThrow(/conditional request failed/i);
      await claim('7', 100);
      await claim('4', 50);
      expect(await read(key)).toEqual({
        ...key,
        l3: { id: 'lease 3', expiresAt: 100 },
        u3: 1,
        l7: { id: 'lease 7', expiresAt: 200 },
        u7: 2,
        l4: { id: 'lease 4', expiresAt: 150 },
        u4: 1,
      });
    });

    it('still finds two placeholders that name the same attribute, and says which', async () => {
      const twice = (a: string, b: string) =>
        update({
          Key: freshKey(),
          UpdateExpression: 'SET #a = :v, #b = :w',
          ExpressionAttributeNames: { '#a': a, '#b': b },
          ExpressionAttributeValues: { ':v': 1, ':w': 2 },
        });
      await twice('x', 'y');
      await expect(twice('z', 'z')).rejects.toThrow(
        /Two document paths overlap with each other; must remove or rewrite one of these paths; path one: \[z\], path two: \[z\]/,
      );
    });

    it('still finds a placeholder that names an attribute the expression writes out', async () => {
      const beside = (a: string) =>
        update({
          Key: freshKey(),
          UpdateExpression: 'SET x = :v, #a = :w',
          ExpressionAttributeNames: { '#a': a },
          ExpressionAttributeValues: { ':v': 1, ':w': 2 },
        });
      await beside('y');
      await expect(beside('x')).rejects.toThrow(/Two document paths overlap/);
    });

    it('still refuses a key attribute behind a placeholder', async () => {
      const set = (a: string) =>
        update({
          Key: freshKey(),
          UpdateExpression: 'SET #a = :v',
          ExpressionAttributeNames: { '#a': a },
          ExpressionAttributeValues: { ':v': 'x' },
        });
      await set('label');
      await expect(set('pk')).rejects.toThrow(
        /Cannot update attribute pk\. This attribute is part of the key/,
      );
    });
  });

  describe('a condition of ANDs and ORs (parsed without parsing any part twice)', () => {
    const item = { a: 5, b: 'x', l: { expiresAt: 10 } };
    const values: Record<string, number | string> = {
      ':five': 5,
      ':six': 6,
      ':ten': 10,
      ':x': 'x',
      ':y': 'y',
      ':z': 'z',
    };
    const check = async (condition: string) => {
      const key = freshKey();
      await update({
        Key: key,
        UpdateExpression: 'SET a = :a, b = :b, l = :l',
        ExpressionAttributeValues: { ':a': item.a, ':b': item.b, ':l': item.l },
      });
      const used = Object.fromEntries(
        [...new Set(condition.match(/:\w+/g))].map((name) => [name, values[name]]),
      );
      await update({
        Key: key,
        UpdateExpression: 'SET touched = :touched',
        ConditionExpression: condition,
        ExpressionAttributeValues: { ...used, ':touched': true },
      });
    };
    const holds = [
      'a = :five OR b = :y',
      'a = :six OR b = :y OR b = :x',
      'a = :five AND b = :x AND attribute_exists(l)',
      '(attribute_not_exists(l) OR l.expiresAt <= :ten) AND (attribute_not_exists(m) OR m.expiresAt <= :five)',
      'a BETWEEN :five AND :six',
      'a IN (:six, :five)',
      'NOT a = :six AND NOT (b = :y OR b = :z)',
      'a < :six AND (b = :x OR a BETWEEN :six AND :ten)',
    ];
    const fails = [
      'a = :six OR b = :y',
      'a = :five AND b = :y',
      '(attribute_not_exists(l) OR l.expiresAt <= :five) AND attribute_not_exists(m)',
      'a IN (:six)',
      'a BETWEEN :six AND :ten OR NOT b = :x',
    ];
    it.each(holds)('holds: %s', async (condition) => {
      await check(condition);
    });
    it.each(fails)('fails: %s', async (condition) => {
      await expect(check(condition)).rejects.toThrow(/conditional request failed/i);
    });
    it.each([
      [
        'a = :five AND',
        'Syntax error; Expected "#", "(", ":", "NOT", "_", or [a-zA-Z] but end of input found.',
      ],
      ['a = :five OR OR b = :x', 'Syntax error; Expected "(" or "NOT" but "O" found.'],
      [
        '(a = :five',
        'Syntax error; Expected ")", "AND", "OR", "_", [0-9], or [a-zA-Z] but end of input found.',
      ],
      ['((a = :five)) OR b = :y', 'The expression has redundant parentheses;'],
    ])('refuses %s with the message of the unpatched parser', async (condition, message) => {
      await expect(check(condition)).rejects.toThrow(`Invalid ConditionExpression: ${message}`);
    });
  });
});

describe('dynalite’s request ids (patched: a random prefix and a count)', () => {
  it('gives each response an id of its own, 52 characters as DynamoDB’s', async () => {
    const key = freshKey();
    const ids = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const out = await table.doc.send(new GetCommand({ TableName: table.tableName, Key: key }));
        return out.$metadata.requestId;
      }),
    );
    expect(new Set(ids).size).toBe(20);
    expect(ids.every((id) => /^[A-Z0-9]{52}$/.test(id ?? ''))).toBe(true);
  });
});
