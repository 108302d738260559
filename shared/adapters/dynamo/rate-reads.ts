import { Coalescer } from './coalescer';
import type { RateRead } from './limiter-items';

/**
 * The reads of a key's control item that a process makes, one at a time ({@link Coalescer}): the
 * callers who ask while a read is on its way share the next one. Each so gets a read sent after it
 * asked, which sees every write that ended before (a 429's cooldown included); a hundred sub-agents
 * starting at once read the item a few times, not a hundred.
 */
export class RateReads {
  private readonly reads: Coalescer<number, RateRead>;

  constructor(read: (deadline: number) => Promise<RateRead>) {
    this.reads = new Coalescer(
      (waiting) => waiting.length,
      // The earliest deadline bounds the retries of a throttled read for all of them.
      async (deadlines) => {
        const rate = await read(Math.min(...deadlines));
        return deadlines.map(() => rate);
      },
    );
  }

  /** A read of the control item sent after this call; never to be changed (others share it). */
  next(deadline: number): Promise<RateRead> {
    return this.reads.ask(deadline);
  }
}
