interface Queued<A, R> {
  ask: A;
  resolve: (answer: R) => void;
  reject: (error: unknown) => void;
}

/**
 * One request at a time for the callers of one process: the callers who ask in one turn of the event
 * loop go together, and while a request is on its way, the callers who ask meanwhile wait for it and
 * then go together in the next (so each is served by a request sent after it asked, and sees every
 * write that ended before). The reads and writes of a hundred
 * sub-agents of one process starting or ending together: a few requests, not a hundred, and one
 * item's writes no longer queue behind each other.
 *
 * With `lanes` above 1, up to that many requests are on their way at once, each taking the asks
 * waiting when it starts: for asks that do not depend on each other's order (a thousand records
 * ending together: a request's size is capped, and one lane would send them one after another).
 * `take` may then answer 0 (nothing may go yet: what is waiting depends on a request still on its
 * way); that lane ends, and a lane still flying takes the asks up when its request is back.
 *
 * @example
 * const reads = new Coalescer<number, Item>((queued) => queued.length, async (ids) => getMany(ids));
 * await reads.ask(42);
 */
export class Coalescer<A, R> {
  private readonly queued: Queued<A, R>[] = [];
  /** Requests on their way. */
  private flying = 0;

  constructor(
    /**
     * How many of the asks waiting, from the first, the next request takes; at least one is taken
     * unless another request is on its way.
     */
    private readonly take: (waiting: readonly A[]) => number,
    /** One request for `asks`: an answer for each, in their order. */
    private readonly send: (asks: A[]) => Promise<R[]>,
    /** The most requests on their way at once. */
    private readonly lanes = 1,
  ) {}

  /** No request on its way and nobody waiting. */
  get idle(): boolean {
    return this.flying === 0 && this.queued.length === 0;
  }

  /** An idle coalescer's first ask is waiting out the turn of the event loop it came in. */
  private gathering = false;

  ask(ask: A): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queued.push({ ask, resolve, reject });
      if (this.flying > 0) {
        if (this.flying < this.lanes) void this.fly();
        return;
      }
      if (this.gathering) return;
      // Idle: the first request goes once this turn is over (setImmediate), with every ask made in
      // it. A hundred sub-agents that a Map started together ask in one turn: one request, not
      // the first alone and the other 99 a round trip later. A lone caller waits that turn only.
      this.gathering = true;
      setImmediate(() => {
        this.gathering = false;
        // As many lanes as have asks to take (a lane whose `take` says 0 ends at once, taking none).
        while (this.flying < this.lanes && this.queued.length > 0) {
          const waiting = this.queued.length;
          void this.fly();
          if (this.queued.length === waiting) break;
        }
      });
    });
  }

  private async fly(): Promise<void> {
    this.flying += 1;
    try {
      while (this.queued.length > 0) {
        const wanted = this.take(this.queued.map((q) => q.ask));
        if (wanted <= 0 && this.flying > 1) return;
        const n = Math.max(1, wanted);
        const batch = this.queued.splice(0, n);
        try {
          const answers = await this.send(batch.map((b) => b.ask));
          for (const [i, b] of batch.entries()) b.resolve(answers[i] as R);
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.flying -= 1;
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
