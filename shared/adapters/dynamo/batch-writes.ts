interface Queued {
  items: readonly Record<string, unknown>[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

const idOf = (item: Record<string, unknown>): string => `${String(item.pk)}\u0000${String(item.sk)}`;

/**
 * The unconditional puts that the callers of one process make at once, sent together: while one
 * BatchWriteItem is on its way, the callers who put meanwhile wait for it and then go in the next,
 * up to one request's `maxItems`. A caller's items always travel in one request, in its order, and
 * no request holds one key twice (DynamoDB refuses that): a clash starts the next request. The
 * step records and agent records of a hundred sub-agents ending together: a few requests, not two
 * hundred. A caller with more than `maxItems` items goes alone.
 */
export class BatchWrites {
  private readonly queued: Queued[] = [];
  private flying = false;

  constructor(
    /** Writes one request's items (unprocessed ones again) or throws. */
    private readonly writeAll: (items: readonly Record<string, unknown>[]) => Promise<void>,
    private readonly maxItems: number,
  ) {}

  /** Resolves once every item of `items` is stored. */
  put(items: readonly Record<string, unknown>[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    if (items.length > this.maxItems) return this.writeAll(items);
    return new Promise((resolve, reject) => {
      this.queued.push({ items, resolve, reject });
      if (!this.flying) void this.fly();
    });
  }

  private async fly(): Promise<void> {
    this.flying = true;
    try {
      while (this.queued.length > 0) {
        const batch: Queued[] = [];
        const ids = new Set<string>();
        let count = 0;
        while (this.queued.length > 0) {
          const next = this.queued[0]!;
          const fits = count + next.items.length <= this.maxItems;
          const clashes = next.items.some((i) => ids.has(idOf(i)));
          if (batch.length > 0 && (!fits || clashes)) break;
          for (const i of next.items) ids.add(idOf(i));
          count += next.items.length;
          batch.push(this.queued.shift()!);
        }
        try {
          await this.writeAll(batch.flatMap((b) => b.items));
          for (const b of batch) b.resolve();
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.flying = false;
    }
  }
}
