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
