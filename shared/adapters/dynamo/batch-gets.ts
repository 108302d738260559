/** An item's table keys. */
export type ItemKey = Record<string, string> & { pk: string; sk: string };

interface Asked {
  keys: readonly ItemKey[];
  resolve: (items: Record<string, unknown>[]) => void;
  reject: (error: unknown) => void;
}

const idOf = (item: Record<string, unknown>): string => `${String(item.pk)}\u0000${String(item.sk)}`;

/**
 * The consistent reads by key that the callers of one process make at once, sent together: while
 * one BatchGetItem is on its way, the callers who ask meanwhile wait for it and then go in the next,
 * their keys merged (each asked once) up to one request's `maxKeys`. Each gets the items of its own
 * keys, read by a request sent after it asked. A hundred sub-agents starting together each read the
 * job and their subtask: a few requests, not a hundred. A caller asking for more than `maxKeys`
 * keys goes alone.
 */
export class BatchGets {
  private readonly asked: Asked[] = [];
  private flying = false;

  constructor(
    private readonly getAll: (keys: readonly ItemKey[]) => Promise<Record<string, unknown>[]>,
    private readonly maxKeys: number,
  ) {}

  /** The items of `keys` that exist, in no order; shared with other callers: never to be changed. */
  get(keys: readonly ItemKey[]): Promise<Record<string, unknown>[]> {
    if (keys.length > this.maxKeys) return this.getAll(keys);
    return new Promise((resolve, reject) => {
      this.asked.push({ keys, resolve, reject });
      if (!this.flying) void this.fly();
    });
  }

  private async fly(): Promise<void> {
    this.flying = true;
    try {
      while (this.asked.length > 0) {
        const batch: Asked[] = [];
        const merged = new Map<string, ItemKey>();
        while (this.asked.length > 0) {
          const next = this.asked[0]!;
          const fresh = next.keys.filter((k) => !merged.has(idOf(k)));
          if (batch.length > 0 && merged.size + fresh.length > this.maxKeys) break;
          for (const k of fresh) merged.set(idOf(k), k);
          batch.push(this.asked.shift()!);
        }
        try {
          const items = new Map((await this.getAll([...merged.values()])).map((i) => [idOf(i), i]));
          for (const b of batch)
            b.resolve(b.keys.map((k) => items.get(idOf(k))).filter((i) => i !== undefined));
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.flying = false;
    }
  }
}
