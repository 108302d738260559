import { Coalescer } from './coalescer';

/** An item's table keys. */
export type ItemKey = Record<string, string> & { pk: string; sk: string };

const idOf = (item: Record<string, unknown>): string => `${String(item.pk)}\u0000${String(item.sk)}`;

/**
 * The consistent reads by key that the callers of one process make at once, sent together
 * ({@link Coalescer}): their keys merged, each asked once, up to one request's `maxKeys`. Each gets
 * the items of its own keys. A hundred sub-agents starting together each read the job and their
 * subtask: a few requests, not a hundred. A caller asking for more than `maxKeys` keys goes alone.
 * With `lanes` above 1, up to that many requests are on their way at once (reads do not depend on
 * each other's order; each is still sent after its caller asked).
 */
export class BatchGets {
  private readonly gets: Coalescer<readonly ItemKey[], Record<string, unknown>[]>;

  constructor(
    private readonly getAll: (keys: readonly ItemKey[]) => Promise<Record<string, unknown>[]>,
    private readonly maxKeys: number,
    lanes = 1,
  ) {
    this.gets = new Coalescer(
      (waiting) => {
        const merged = new Set<string>();
        let n = 0;
        for (const keys of waiting) {
          const fresh = keys.map(idOf).filter((id) => !merged.has(id));
          if (merged.size + fresh.length > maxKeys) break;
          for (const id of fresh) merged.add(id);
          n += 1;
        }
        return n;
      },
      async (asks) => {
        const merged = new Map(asks.flat().map((k) => [idOf(k), k]));
        const items = new Map((await getAll([...merged.values()])).map((i) => [idOf(i), i]));
        return asks.map((keys) => keys.map((k) => items.get(idOf(k))).filter((i) => i !== undefined));
      },
      lanes,
    );
  }

  /** The items of `keys` that exist, in no order; shared with other callers: never to be changed. */
  get(keys: readonly ItemKey[]): Promise<Record<string, unknown>[]> {
    return keys.length > this.maxKeys ? this.getAll(keys) : this.gets.ask(keys);
  }
}
