import { RequestValidationError } from '#shared/domain/errors';

/** A listing cursor: the page's LastEvaluatedKey, opaque to the caller. */
export const encodeCursor = (key: Record<string, unknown> | undefined): string | undefined =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;

/** The attributes of a table key (`pk`, `sk`) and of a key on the GSI (plus `gsi1pk`, `gsi1sk`). */
export const TABLE_KEY = ['pk', 'sk'] as const;
export const INDEX_KEY = ['pk', 'sk', 'gsi1pk', 'gsi1sk'] as const;

/** DynamoDB's limit on a sort key (a partition key's is 2,048): a longer one cannot be ours. */
const MAX_KEY_BYTES = 1024;

/** Exactly the attributes `names`, each a string that fits a key. */
function hasKeyShape(key: Record<string, unknown>, names: readonly string[]): key is Record<string, string> {
  const present = Object.keys(key);
  return (
    present.length === names.length &&
    names.every(
      (n) =>
        typeof key[n] === 'string' &&
        key[n] !== '' &&
        (key[n] as string).isWellFormed() &&
        Buffer.byteLength(key[n] as string) <= MAX_KEY_BYTES,
    )
  );
}

/**
 * Decodes a listing cursor. It must be base64url JSON of exactly the key attributes `names` (all
 * strings) and pass `check` (the caller's partition, the listing's prefix); anything else, a
 * hand-made cursor included, is a 400 on `cursor`, never a key DynamoDB would refuse.
 */
export function decodeCursor<N extends string>(
  cursor: string | undefined,
  names: readonly N[],
  check: (key: Record<N, string>) => boolean,
): Record<N, string> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      key &&
      typeof key === 'object' &&
      !Array.isArray(key) &&
      hasKeyShape(key as Record<string, unknown>, names) &&
      check(key as Record<N, string>)
    ) {
      return key as Record<N, string>;
    }
  } catch {
    // falls through to the error below
  }
  throw new RequestValidationError('cursor', 'is not a cursor this listing returned');
}
