import type { UpdateCommandInput, UpdateCommandOutput } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { LimiterItems } from '#shared/adapters/dynamo/limiter-items';
import { LimiterSlots } from '#shared/adapters/dynamo/limiter-slots';

type Update = Omit<UpdateCommandInput, 'TableName' | 'Key'>;

/**
 * The slot items of one key in memory, `perItem` slots to an item, behind the three calls
 * LimiterSlots makes of its LimiterItems: a claim sets its slots only if none of them is held
 * (as the real condition), and answers every grant count (`ALL_NEW`); a renew only if the lease's
 * id is the one held. Every update is logged with its deadline and item.
 */
function memoryItems(perItem: number, opts: { attributes?: boolean } = {}) {
  const leases = new Map<string, string>(); // `${item}/${attribute}` → lease id
  const uses = new Map<string, number>();
  const updates: { input: Update; deadline: number; item: string }[] = [];
  const update = (
    input: Update,
    deadline: number,
    item: string,
  ): Promise<UpdateCommandOutput | undefined> => {
    updates.push({ input, deadline, item });
    const names = Object.values(input.ExpressionAttributeNames ?? {});
    const values = input.ExpressionAttributeValues ?? {};
    let out: Record<string, unknown> | undefined = {};
    if (input.UpdateExpression?.startsWith('SET #l0 = :l0')) {
      const slots = names.filter((n) => n.startsWith('l'));
      if (slots.some((l) => leases.has(`${item}/${l}`))) out = undefined;
      else
        for (const [i, l] of slots.entries()) {
          leases.set(`${item}/${l}`, (values[`:l${i}`] as { id: string }).id);
          const u = `u${l.slice(1)}`;
          uses.set(`${item}/${u}`, (uses.get(`${item}/${u}`) ?? 0) + 1);
          out[u] = uses.get(`${item}/${u}`);
        }
    } else if (input.UpdateExpression?.startsWith('REMOVE')) {
      for (const l of names.filter((n) => n.startsWith('l'))) leases.delete(`${item}/${l}`);
    } else if (input.UpdateExpression?.startsWith('SET #l.acquiredAt')) {
      if (leases.get(`${item}/${names[0]}`) !== values[':id']) out = undefined;
    }
    return Promise.resolve(
      out &&
        ({ ...(opts.attributes === false ? {} : { Attributes: out }), $metadata: {} } as UpdateCommandOutput),
    );
  };
  const io = {
    clock: { now: () => 1_000 },
    slotItemKey: (n: number) => `SLOT#${n - (n % perItem)}`,
    leaseAttribute: (n: number) => `l${n % perItem}`,
    usesAttribute: (n: number) => `u${n % perItem}`,
    update,
  } as unknown as LimiterItems;
  return { io, updates, leases };
}

const lease = (id: string) => ({
  id,
  acquiredAt: 1_000,
  expiresAt: 31_000,
  role: 'subagent' as const,
  tenantId: 't',
});
const slotsOf = (u: Update) =>
  Object.values(u.ExpressionAttributeNames ?? {}).filter((n) => n.startsWith('l'));

describe('LimiterSlots', () => {
  it('claims the slots of one item asked in one turn with one update, by the earliest deadline', async () => {
    // Prepare
    const items = memoryItems(25);
    const slots = new LimiterSlots(items.io);
    // Act: three slots of item SLOT#0 (one of them granted before), deadlines 5 s, 1 s and 3 s
    await slots.claim(1, lease('old'), 9_000);
    await slots.free(1, 'old', 9_000);
    items.updates.length = 0;
    const counts = await Promise.all([
      slots.claim(0, lease('a'), 5_000),
      slots.claim(1, lease('b'), 1_000),
      slots.claim(2, lease('c'), 3_000),
    ]);
    // Assess
    expect(items.updates.map((u) => [u.item, u.deadline, slotsOf(u.input)])).toEqual([
      ['SLOT#0', 1_000, ['l0', 'l1', 'l2']],
    ]);
    expect(counts).toEqual([1, 2, 1]); // each slot's count of grants after the claim
  });

  it('asks a held slot once when it is the only claim of its turn', async () => {
    // Prepare
    const items = memoryItems(25);
    const slots = new LimiterSlots(items.io);
    await slots.claim(3, lease('theirs'), 9_000);
    items.updates.length = 0;
    // Act
    const count = await slots.claim(3, lease('mine'), 9_000);
    // Assess: refused, with one request
    expect(count).toBeUndefined();
    expect(items.updates).toHaveLength(1);
  });

  it('never sets one slot twice in an update: the same slot asked twice in a turn goes in turn', async () => {
    // Prepare
    const items = memoryItems(25);
    const slots = new LimiterSlots(items.io);
    // Act: slot 4 asked by two callers, slot 5 by one, in one turn
    const counts = await Promise.all([
      slots.claim(4, lease('a'), 9_000),
      slots.claim(4, lease('b'), 9_000),
      slots.claim(5, lease('c'), 9_000),
    ]);
    // Assess: the first caller of slot 4 has it, the second not; slot 5 is claimed too
    for (const u of items.updates) expect(new Set(slotsOf(u.input)).size).toBe(slotsOf(u.input).length);
    expect(counts).toEqual([1, undefined, 1]);
    expect(items.leases.get('SLOT#0/l4')).toBe('a');
    expect(items.leases.get('SLOT#0/l5')).toBe('c');
  });

  it('counts one grant when the table answers without the attributes', async () => {
    const items = memoryItems(25, { attributes: false });
    const slots = new LimiterSlots(items.io);
    expect(await slots.claim(7, lease('a'), 9_000)).toBe(1);
  });

  it('renews the lease it holds with the new times, and says so; not one another caller holds', async () => {
    // Prepare
    const items = memoryItems(1);
    const slots = new LimiterSlots(items.io);
    await slots.claim(2, lease('mine'), 9_000);
    items.updates.length = 0;
    // Act
    const mine = await slots.renew(2, 'mine', 20_000, 50_000, 9_000);
    const theirs = await slots.renew(2, 'someone-else', 20_000, 50_000, 9_000);
    // Assess
    expect([mine, theirs]).toEqual([true, false]);
    expect(items.updates[0]).toEqual({
      input: {
        UpdateExpression: 'SET #l.acquiredAt = :at, #l.expiresAt = :exp',
        ConditionExpression: '#l.id = :id',
        ExpressionAttributeNames: { '#l': 'l0' },
        ExpressionAttributeValues: { ':id': 'mine', ':at': 20_000, ':exp': 50_000 },
        ReturnValues: 'NONE',
      },
      deadline: 9_000,
      item: 'SLOT#2',
    });
  });
});
