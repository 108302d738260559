interface Queued<A, R> {
  ask: A;
  resolve: (answer: R) => void;
  reject: (error: unknown) => void;
}

/**
 * One request at a time for the callers of one process: while a request is on its way, the callers
 * who ask meanwhile wait for it and then go together in the next (so each is served by a request
 * sent after it asked, and sees every write that ended before). The reads and writes of a hundred
 * sub-agents of one process starting or ending together: a few requests, not a hundred, and one
 * item's writes no longer queue behind each other.
 *
 * @example
 * const reads = new Coalescer<number, Item>((queued) => queued.length, async (ids) => getMany(ids));
 * await reads.ask(42);
 */
export class Coalescer<A, R> {
  private readonly queued: Queued<A, R>[] = [];
  private flying = false;

  constructor(
    /** How many of the asks waiting, from the first, the next request takes (at least one is taken). */
    private readonly take: (waiting: readonly A[]) => number,
    /** One request for `asks`: an answer for each, in their order. */
    private readonly send: (asks: A[]) => Promise<R[]>,
  ) {}

  /** No request on its way and nobody waiting. */
  get idle(): boolean {
    return !this.flying && this.queued.length === 0;
  }

  ask(ask: A): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ ask, resolve, reject });
      if (!this.flying) void this.fly();
    });
  }

  private async fly(): Promise<void> {
    this.flying = true;
    try {
      while (this.queued.length > 0) {
        const n = Math.max(1, this.take(this.queued.map((q) => q.ask)));
        const batch = this.queued.splice(0, n);
        try {
          const answers = await this.send(batch.map((b) => b.ask));
          for (const [i, b] of batch.entries()) b.resolve(answers[i] as R);
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.flying = false;
    }
  }
}

/**
 * A {@link Coalescer} per key (one item each, so the asks of different items never wait for each
 * other): made at a key's first ask, dropped once idle, so a long-lived process keeps none for the
 * items it no longer writes.
 */
export class KeyedCoalescers<A, R> {
  private readonly byKey = new Map<string, Coalescer<A, R>>();

  constructor(private readonly make: (key: string) => Coalescer<A, R>) {}

  async ask(key: string, ask: A): Promise<R> {
    let coalescer = this.byKey.get(key);
    if (!coalescer) {
      coalescer = this.make(key);
      this.byKey.set(key, coalescer);
    }
    try {
      return await coalescer.ask(ask);
    } finally {
      if (coalescer.idle && this.byKey.get(key) === coalescer) this.byKey.delete(key);
    }
  }

  /** How many keys have a coalescer now (idle ones are dropped). */
  get size(): number {
    return this.byKey.size;
  }
}
