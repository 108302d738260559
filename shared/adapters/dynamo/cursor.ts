import { RequestValidationError } from '#shared/domain/errors';

/** A listing cursor: the page's LastEvaluatedKey, opaque to the caller. */
export const encodeCursor = (key: Record<string, unknown> | undefined): string | undefined =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;

/** Decodes a listing cursor; a cursor that is not one of ours is a 400 on `cursor`. */
export function decodeCursor(
  cursor: string | undefined,
  check: (key: Record<string, unknown>) => boolean,
): Record<string, unknown> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (key && typeof key === 'object' && !Array.isArray(key) && check(key as Record<string, unknown>)) {
      return key as Record<string, unknown>;
    }
  } catch {
    // falls through to the error below
  }
  throw new RequestValidationError('cursor', 'is not a cursor this listing returned');
}
