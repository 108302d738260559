import { RequestValidationError } from './errors';

/**
 * What DynamoDB can store, checked where input enters (the API, the batch intake, `parl run`), so
 * that anything accepted can be stored: a request that passes these checks never makes a write
 * fail after its money was reserved.
 *
 * - nesting at most `maxDepth` deep (the marshaller recurses; DynamoDB allows 32 levels)
 * - every string and object key well-formed Unicode (no lone surrogate: strict JSON parsers and
 *   DynamoDB's UTF-8 refuse them)
 * - numbers within DynamoDB's range (magnitude 1e-130 .. 9.99e125)
 */
export const INPUT_BOUNDS = {
  maxDepth: 24,
  /** A dataset collection's name: part of a sort key (`DATA#<name>#<id>`, at most 1,024 bytes). */
  collectionPattern: /^[A-Za-z0-9_-]{1,64}$/,
  maxCollections: 16,
  /** A dataset record's id, in UTF-8 bytes (the sort key keeps room for its prefix). */
  maxIdBytes: 512,
  /** A dataset record as JSON, in UTF-8 bytes: DynamoDB's item limit is 400 KB with its keys. */
  maxRecordBytes: 380_000,
  maxNumber: 9.99e125,
  minNumber: 1e-130,
} as const;

type Path = readonly (string | number)[];

/** `dataset.k[0].v`, as the API names a field. */
export const fieldOf = (path: Path): string =>
  path.length === 0
    ? 'request'
    : path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${p}`)).join('');

function checkNumber(n: number, path: Path): void {
  const size = Math.abs(n);
  if (!Number.isFinite(n) || size > INPUT_BOUNDS.maxNumber || (size !== 0 && size < INPUT_BOUNDS.minNumber)) {
    throw new RequestValidationError(fieldOf(path), 'is a number outside 1e-130 .. 9.99e125 (DynamoDB)');
  }
}

function checkString(s: string, path: Path): void {
  if (!s.isWellFormed()) {
    throw new RequestValidationError(fieldOf(path), 'is not well-formed Unicode (a lone surrogate)');
  }
}

/**
 * Walks a parsed JSON value without recursion: depth, Unicode and numbers as {@link INPUT_BOUNDS}
 * says. Throws a RequestValidationError naming the first field that breaks one.
 */
export function checkJsonBounds(value: unknown, at: Path = []): void {
  const stack: { value: unknown; path: Path }[] = [{ value, path: at }];
  while (stack.length > 0) {
    const { value: v, path } = stack.pop() as { value: unknown; path: Path };
    if (typeof v === 'string') checkString(v, path);
    else if (typeof v === 'number') checkNumber(v, path);
    else if (v !== null && typeof v === 'object') {
      if (path.length - at.length >= INPUT_BOUNDS.maxDepth) {
        throw new RequestValidationError(
          fieldOf(path),
          `is nested deeper than ${INPUT_BOUNDS.maxDepth} levels`,
        );
      }
      const entries: [string | number, unknown][] = Array.isArray(v) ? [...v.entries()] : Object.entries(v);
      for (const [k, item] of entries) {
        if (typeof k === 'string') checkString(k, [...path, k]);
        stack.push({ value: item, path: [...path, k] });
      }
    }
  }
}

/** The id a dataset record is stored and found under: its `id`, else its index. */
export const datasetItemId = (record: unknown, index: number): string => {
  const id = (record as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : String(index);
};

/**
 * A dataset DynamoDB can store, one item per record: collection names that fit a key, record ids
 * that are strings within {@link INPUT_BOUNDS.maxIdBytes} and unique in their collection (an id-less
 * record takes its index as id), records within {@link INPUT_BOUNDS.maxRecordBytes}.
 */
export function checkDatasetBounds(dataset: Record<string, readonly unknown[]> | undefined): void {
  if (!dataset) return;
  const names = Object.keys(dataset);
  if (names.length > INPUT_BOUNDS.maxCollections) {
    throw new RequestValidationError(
      'dataset',
      `has ${names.length} collections; at most ${INPUT_BOUNDS.maxCollections}`,
    );
  }
  for (const name of names) {
    if (!INPUT_BOUNDS.collectionPattern.test(name)) {
      throw new RequestValidationError(
        'dataset',
        `collection names must be 1-64 characters of A-Z a-z 0-9 _ -`,
      );
    }
    const seen = new Set<string>();
    (dataset[name] ?? []).forEach((record, i) => {
      const field = `dataset.${name}[${i}]`;
      const id = (record as { id?: unknown } | null)?.id;
      if (id !== undefined && (typeof id !== 'string' || id === '')) {
        throw new RequestValidationError(`${field}.id`, 'must be a non-empty string');
      }
      const itemId = datasetItemId(record, i);
      if (Buffer.byteLength(itemId) > INPUT_BOUNDS.maxIdBytes) {
        throw new RequestValidationError(`${field}.id`, `is over ${INPUT_BOUNDS.maxIdBytes} bytes`);
      }
      if (seen.has(itemId))
        throw new RequestValidationError(`${field}.id`, `duplicate id "${itemId}" in ${name}`);
      seen.add(itemId);
      const bytes = Buffer.byteLength(JSON.stringify(record) ?? '');
      if (bytes > INPUT_BOUNDS.maxRecordBytes) {
        throw new RequestValidationError(
          field,
          `is ${bytes} bytes as JSON; at most ${INPUT_BOUNDS.maxRecordBytes}`,
        );
      }
    });
  }
}
