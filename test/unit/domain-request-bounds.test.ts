/**
 * What a job request may hold so that DynamoDB can store it: each refusal names the field a client
 * has to fix and says why, before any money is reserved.
 */
import { describe, expect, it } from 'vitest';
import { RequestValidationError } from '#shared/domain/errors';
import { datasetItemId, fieldOf } from '#shared/domain/input-bounds';
import { jobRequestJsonSchema, parseJobRequest } from '#shared/domain/request';

const parse = (raw: unknown) => parseJobRequest(raw, { maxSubagentsCap: 10 });

/** The field and reason of the validation error parsing `raw` throws. */
const refusal = (raw: unknown): { field: string; reason: string } => {
  try {
    parse(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(RequestValidationError);
    const { field, reason } = error as RequestValidationError;
    return { field, reason };
  }
  return expect.unreachable('accepted');
};

const withDataset = (dataset: Record<string, unknown[]>) => ({ task: 'Check the records', dataset });

describe('dataset bounds', () => {
  it('accepts 16 collections, ids up to 512 bytes, and id-less records numbered by their index', () => {
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`c${i}`, [{ v: i }]]));
    expect(parse(withDataset(sixteen)).dataset).toEqual(sixteen);
    const items = [{ id: 'x'.repeat(512) }, { v: 1 }, { id: 'zero', v: 2 }];
    expect(parse(withDataset({ items })).dataset).toEqual({ items });
  });

  it('refuses a 17th collection', () => {
    const seventeen = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`c${i}`, []]));
    expect(refusal(withDataset(seventeen))).toEqual({
      field: 'dataset',
      reason: 'has 17 collections; at most 16',
    });
  });

  it.each(['', 'has space', 'x'.repeat(65), 'dots.are.out'])('refuses the collection name %j', (name) => {
    expect(refusal(withDataset({ [name]: [] }))).toEqual({
      field: 'dataset',
      reason: 'collection names must be 1-64 characters of A-Z a-z 0-9 _ -',
    });
  });

  it.each([
    [{ id: 7 }, 'must be a non-empty string'],
    [{ id: '' }, 'must be a non-empty string'],
    [{ id: null }, 'must be a non-empty string'],
    [{ id: 'é'.repeat(257) }, 'is over 512 bytes'],
  ])('refuses the record %j, naming its id', (record, reason) => {
    expect(refusal(withDataset({ items: [{ id: 'a' }, record] }))).toEqual({
      field: 'dataset.items[1].id',
      reason,
    });
  });

  it('refuses two records with one id, counting an id-less record by its index', () => {
    expect(refusal(withDataset({ items: [{ id: 'a' }, { id: 'a' }] }))).toEqual({
      field: 'dataset.items[1].id',
      reason: 'duplicate id "a" in items',
    });
    expect(refusal(withDataset({ items: [{ id: '1' }, { v: 'takes id 1' }] }))).toEqual({
      field: 'dataset.items[1].id',
      reason: 'duplicate id "1" in items',
    });
    // The same id in two collections is two items.
    expect(parse(withDataset({ a: [{ id: 'k' }], b: [{ id: 'k' }] })).dataset).toBeDefined();
  });

  it('refuses a record over 380,000 bytes as JSON, and takes one at the limit', () => {
    // {"v":"…"} is 8 bytes around the string.
    const at = { v: 'x'.repeat(380_000 - 8) };
    expect(parse(withDataset({ items: [at] })).dataset).toEqual({ items: [at] });
    expect(refusal(withDataset({ items: [{ v: 'x'.repeat(380_000 - 7) }] }))).toEqual({
      field: 'dataset.items[0]',
      reason: 'is 380001 bytes as JSON; at most 380000',
    });
  });

  it('stores a record under its id, else its index', () => {
    expect(datasetItemId({ id: 'q-1' }, 4)).toBe('q-1');
    expect(datasetItemId({ id: 3 }, 4)).toBe('4');
    expect(datasetItemId(null, 2)).toBe('2');
  });
});

describe('JSON bounds', () => {
  /** `{ a: { a: … { a: leaf } } }`, `levels` objects deep. */
  const nested = (levels: number, leaf: unknown = 1): unknown =>
    Array.from({ length: levels }).reduce<unknown>((inner) => ({ a: inner }), leaf);

  it('takes 24 levels of nesting and refuses 25, naming the field that goes too deep', () => {
    // The request object is level 1, so a dataset record may nest 21 more.
    expect(() => parse(withDataset({ items: [nested(21)] }))).not.toThrow();
    expect(refusal(withDataset({ items: [nested(22)] }))).toEqual({
      field: `dataset.items[0]${'.a'.repeat(21)}`,
      reason: 'is nested deeper than 24 levels',
    });
  });

  it.each([1e126, -1e126, 1e-131, Number.POSITIVE_INFINITY, Number.NaN])(
    'refuses the number %d, which DynamoDB cannot store',
    (n) => {
      expect(refusal(withDataset({ items: [{ v: n }] }))).toEqual({
        field: 'dataset.items[0].v',
        reason: 'is a number outside 1e-130 .. 9.99e125 (DynamoDB)',
      });
    },
  );

  it.each([0, 9.99e125, -9.99e125, 1e-130])('takes the number %d', (n) => {
    expect(parse(withDataset({ items: [{ v: n }] })).dataset).toEqual({ items: [{ v: n }] });
  });

  it('refuses a lone surrogate in a value or in a key', () => {
    const reason = 'is not well-formed Unicode (a lone surrogate)';
    expect(refusal({ task: 'a\uD800b' })).toEqual({ field: 'task', reason });
    expect(refusal(withDataset({ items: [{ 'k\uDC00': 1 }] }))).toEqual({
      field: 'dataset.items[0].k\uDC00',
      reason,
    });
  });

  it('names fields as the API does', () => {
    expect(fieldOf([])).toBe('request');
    expect(fieldOf(['subtasks', 3, 'prompt'])).toBe('subtasks[3].prompt');
    expect(fieldOf([0, 'a'])).toBe('[0].a');
  });
});

describe('request fields', () => {
  it('names an unknown field inside a subtask by its path', () => {
    expect(refusal({ task: 't', subtasks: [{ prompt: 'p', colour: 'red' }] })).toMatchObject({
      field: 'subtasks[0].colour',
      reason: 'is not a known field',
    });
    expect(refusal({ task: 't', colour: 'red' })).toEqual({
      field: 'colour',
      reason: 'is not a known field',
    });
  });

  it("publishes the service's cap on maxSubagents in the request's JSON Schema", () => {
    const schema = jobRequestJsonSchema(7) as { properties: Record<string, Record<string, unknown>> };
    expect(schema.properties.maxSubagents).toMatchObject({ maximum: 7, minimum: 1 });
    expect(JSON.stringify(schema)).toContain('2020-12');
    const openapi = jobRequestJsonSchema(7, 'openapi-3.0');
    expect(JSON.stringify(openapi)).not.toContain('2020-12');
  });
});
