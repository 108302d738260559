import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { LimiterItems } from '#shared/adapters/dynamo/limiter-items';
import { LimiterSlots } from '#shared/adapters/dynamo/limiter-slots';
import type { ProviderLimits } from '#shared/domain/provider-limits';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { useDynaliteTable } from './dynalite-table';

const table = useDynaliteTable();

const limits: ProviderLimits = { maxConcurrency: 100, rpm: undefined, tpm: undefined, windowMs: 60_000 };
let keyNo = 0;
/** A provider partition no other test writes. */
const freshPk = () => `PROVIDER#items-${++keyNo}`;
const itemsOf = (pk: string, slotsPerItem: number) =>
  new LimiterItems(table.doc, table.tableName, pk, limits, new SteppingClock(), () => 0.5, slotsPerItem);
const put = (item: Record<string, unknown>) =>
  table.doc.send(new PutCommand({ TableName: table.tableName, Item: item }));
const leaseValue = (id: string) => ({
  id,
  role: 'subagent',
  tenantId: 't',
  acquiredAt: T0,
  expiresAt: T0 + 30_000,
});
const leaseOf = (slot: number, id: string) => ({ slot, ...leaseValue(id) });

/** LimiterItems.readAll on dynalite: what one query of a provider key's partition makes of its items. */
describe('LimiterItems.readAll', () => {
  it('reads the leases and grant counts of an item’s slots past the ninth', async () => {
    // Prepare: 25 slots to an item; slots 12 and 37 held
    const pk = freshPk();
    await put({ pk, sk: 'SLOT#00000', l12: leaseValue('a'), u12: 3, u0: 2 });
    await put({ pk, sk: 'SLOT#00025', l12: leaseValue('b'), u12: 1 });
    // Act
    const read = await itemsOf(pk, 25).readAll(T0 + 1_000);
    // Assess
    expect(read.leases).toEqual([leaseOf(12, 'a'), leaseOf(37, 'b')]);
    expect(read.granted).toBe(6);
  });

  it('reads only the control item and the slot items, and of a slot item only its l<n> and u<n> attributes', async () => {
    // Prepare: an item of another kind in the partition that has slot-like attributes, and a slot
    // item with attributes whose names only contain or start like a slot's
    const pk = freshPk();
    await put({ pk, sk: 'RATE', tat: T0, seq: 3 });
    await put({ pk, sk: 'NOTE#1', l0: leaseValue('not a slot'), u0: 7 });
    await put({ pk, sk: 'SLOT#00000', l0: leaseValue('a'), u0: 2, pool1: 4, l0note: 'x', u0old: 9, ttl: 1 });
    // Act
    const read = await itemsOf(pk, 1).readAll(T0 + 1_000);
    // Assess
    expect(read.exists).toBe(true);
    expect(read.rate.seq).toBe(3);
    expect(read.leases).toEqual([leaseOf(0, 'a')]);
    expect(read.granted).toBe(2);
  });

  it('reads every page of a partition past the 1 MB a query returns at once', async () => {
    // Prepare: four slot items of about 380 KB each (the first three fill a page)
    const pk = freshPk();
    const padding = 'x'.repeat(380_000);
    for (let first = 0; first < 4; first++)
      await put({ pk, sk: `SLOT#0000${first}`, l0: leaseValue(`lease-${first}`), u0: 1, padding });
    // Act
    const read = await itemsOf(pk, 1).readAll(T0 + 1_000);
    // Assess
    expect(read.leases.map((l) => l.slot)).toEqual([0, 1, 2, 3]);
    expect(read.granted).toBe(4);
  });
});

/** LimiterSlots on dynalite: what its writes ask back. */
describe('LimiterSlots writes', () => {
  it('reads back each claimed slot’s count of grants, and nothing of the item’s other leases', async () => {
    // Prepare: slot 3 of an item whose slot 7 another caller holds; a client that keeps the outputs
    const pk = freshPk();
    await put({ pk, sk: 'SLOT#00000', l7: leaseValue('other'), u7: 4 });
    const outputs: Record<string, unknown>[] = [];
    const send = table.doc.send.bind(table.doc);
    const doc = Object.create(table.doc) as typeof table.doc;
    doc.send = (async (command: Parameters<typeof send>[0]) => {
      const out = (await send(command)) as { Attributes?: Record<string, unknown> };
      outputs.push({ ...out.Attributes });
      return out;
    }) as typeof doc.send;
    const items = new LimiterItems(doc, table.tableName, pk, limits, new SteppingClock(), () => 0.5, 25);
    const slots = new LimiterSlots(items);
    const lease = {
      ...leaseValue('mine'),
      role: 'subagent' as const,
      acquiredAt: T0 + 40_000,
      expiresAt: T0 + 70_000,
    };
    // Act: claim, free, claim again
    const first = await slots.claim(3, lease, T0 + 60_000);
    await slots.freeHeld(3);
    const second = await slots.claim(3, lease, T0 + 60_000);
    // Assess: the counts as before; the claims' outputs hold only slot 3's attributes, the free's none
    expect([first, second]).toEqual([1, 2]);
    expect(outputs.map((o) => Object.keys(o).sort())).toEqual([['l3', 'ttl', 'u3'], [], ['l3', 'ttl', 'u3']]);
    const read = await itemsOf(pk, 25).readAll(T0 + 41_000);
    expect(read.leases.map((l) => [l.slot, l.id]).sort()).toEqual([
      [3, 'mine'],
      [7, 'other'],
    ]);
  });
});
