import { describe, expect, it } from 'vitest';
import { packedItem, RECORD_JSON, unpacked } from '#shared/adapters/dynamo/items';

const KEY = { pk: 'TENANT#t#JOB#j', sk: 'STEP#001#sub#a#00001' };
const STEP = {
  stage: 1,
  role: 'sub',
  agentId: 'a',
  step: 1,
  durationMs: 120,
  toolCalls: ['lookup'],
  tokens: { input: 10, output: 2 },
};

describe('packedItem', () => {
  it('keeps the key and the fields named as attributes, and the record as one JSON string', () => {
    const item = packedItem(KEY, { ...STEP, status: 'SUCCEEDED' }, ['status']);
    expect(Object.keys(item).sort()).toEqual([RECORD_JSON, 'pk', 'sk', 'status'].sort());
    expect(item.status).toBe('SUCCEEDED');
    expect(JSON.parse(item[RECORD_JSON] as string)).toEqual({ ...STEP, status: 'SUCCEEDED' });
    expect(Object.keys(packedItem(KEY, STEP)).sort()).toEqual([RECORD_JSON, 'pk', 'sk'].sort());
  });

  it('leaves out a kept field that is undefined, and does not change the record', () => {
    const record = { ...STEP, status: undefined };
    const item = packedItem(KEY, record, ['status']);
    expect('status' in item).toBe(false);
    expect(record).toEqual({ ...STEP, status: undefined });
  });
});

describe('unpacked', () => {
  it('gives back the record a packed item was made of, without the table keys', () => {
    const record = { ...STEP, status: 'FAILED', error: 'boom' };
    expect(unpacked(packedItem(KEY, record, ['status']))).toEqual(record);
    expect(unpacked({ ...packedItem(KEY, record), gsi1pk: 'G', gsi1sk: 'H' })).toEqual(record);
  });

  it('reads an item stored attribute by attribute as it is', () => {
    expect(unpacked({ ...KEY, ...STEP })).toEqual(STEP);
  });

  it('lets an attribute of its own win over the same field in the JSON', () => {
    const item = {
      ...KEY,
      status: 'SUCCEEDED',
      [RECORD_JSON]: JSON.stringify({ step: 2, status: 'RUNNING' }),
    };
    expect(unpacked(item)).toEqual({ step: 2, status: 'SUCCEEDED' });
  });
});
