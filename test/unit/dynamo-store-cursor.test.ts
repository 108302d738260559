import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, TABLE_KEY } from '#shared/adapters/dynamo/cursor';
import { RequestValidationError } from '#shared/domain/errors';

/** A cursor of any JSON value, as a caller could hand-make one. */
const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const inPartition = (key: Record<'pk' | 'sk', string>) => key.pk === 'P';

/** The listing cursor: the last key, opaque to the caller, and only a key of ours read back. */
describe('encodeCursor and decodeCursor', () => {
  it('reads back the key it encoded', () => {
    // Prepare
    const key = { pk: 'P', sk: 'STEP#001#sub#a#00001' };
    // Act
    const decoded = decodeCursor(encodeCursor(key), TABLE_KEY, inPartition);
    // Assess
    expect(decoded).toEqual(key);
  });

  it('encodes no key as no cursor, and decodes no cursor as no key', () => {
    // Assess
    expect(encodeCursor(undefined)).toBeUndefined();
    expect(decodeCursor(undefined, TABLE_KEY, () => false)).toBeUndefined();
  });

  it('accepts a sort key of exactly 1,024 bytes (the longest DynamoDB takes)', () => {
    // Prepare
    const key = { pk: 'P', sk: 'é'.repeat(512) };
    // Act
    const decoded = decodeCursor(cursorOf(key), TABLE_KEY, inPartition);
    // Assess
    expect(decoded).toEqual(key);
  });

  it.each<[string, unknown]>([
    ['JSON that is not an object', 'P'],
    ['null', null],
    ['an array', ['P', 'S']],
    ['a key with an attribute more', { pk: 'P', sk: 'S', x: 'X' }],
    ['a key with an attribute less', { pk: 'P' }],
    ['a key with another attribute in place of one', { pk: 'P', x: 'S' }],
    ['a number where a string belongs', { pk: 'P', sk: 1 }],
    ['an empty string', { pk: 'P', sk: '' }],
    ['a lone surrogate', { pk: 'P', sk: '\ud801' }],
    ['a sort key one byte too long', { pk: 'P', sk: `${'é'.repeat(512)}x` }],
    ['a key the listing’s check refuses', { pk: 'Q', sk: 'S' }],
  ])('refuses %s as a RequestValidationError on cursor', (_, value) => {
    // Act
    const decode = () => decodeCursor(cursorOf(value), TABLE_KEY, inPartition);
    // Assess
    expect(decode).toThrow(RequestValidationError);
    expect(decode).toThrow('cursor: is not a cursor this listing returned');
  });

  it('refuses text that is not base64url JSON', () => {
    // Act
    const decode = () => decodeCursor('%%% not json', TABLE_KEY, inPartition);
    // Assess
    expect(decode).toThrow(RequestValidationError);
  });
});
