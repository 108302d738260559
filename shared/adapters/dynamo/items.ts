/** `items` in runs of `size` (DynamoDB's batch limits). */
export const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/** An item without its table keys (`pk`, `sk`, `gsi1pk`, `gsi1sk`): the record the adapters store. */
export const withoutKeys = <T extends Record<string, unknown>>(
  item: Record<string, unknown> | undefined,
): T | undefined => {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, ...rest } = item;
  return rest as T;
};

/**
 * The attribute of a packed item ({@link packedItem}) that holds its record as JSON text.
 */
export const RECORD_JSON = 'json';

/**
 * A record written once and read whole (a subtask, a step, an agent, a result) as one item: its
 * table key, the fields named in `kept` as attributes of their own too (those an expression reads:
 * a projection, a condition), and the record as JSON text in {@link RECORD_JSON}. A string
 * attribute is marshalled, checked and stored as one value: an item of twenty attributes cost the
 * SDK and the store about three times as much to write and to read (a 1,000-sub-agent job's 2,001
 * records, written through the SDK into dynalite: 140–330 ms and 200–560 ms of CPU as attributes,
 * 60–115 ms and 110–160 ms packed; read back 50–80 ms against 22–30 ms).
 */
export function packedItem(
  key: Record<string, string>,
  record: object,
  kept: readonly string[] = [],
): Record<string, unknown> {
  const item: Record<string, unknown> = { ...key };
  for (const name of kept) {
    const value = (record as Record<string, unknown>)[name];
    if (value !== undefined) item[name] = value;
  }
  // The kept fields stay in the JSON too (a few bytes): stringifying the record as it is costs
  // less than a copy without them, and the attribute wins on reading ({@link unpacked}).
  item[RECORD_JSON] = JSON.stringify(record);
  return item;
}

/**
 * The record of an item without its table keys: a packed one's JSON with its own attributes on top
 * ({@link packedItem}), or the item's attributes as they are (items stored before packing).
 */
export function unpacked<T>(item: Record<string, unknown>): T {
  const { [RECORD_JSON]: json, ...own } = withoutKeys<Record<string, unknown>>(item) ?? {};
  return (typeof json === 'string' ? { ...(JSON.parse(json) as object), ...own } : own) as T;
}
