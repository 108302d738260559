import type { RateRead } from './limiter-items';

interface Reader {
  deadline: number;
  resolve: (read: RateRead) => void;
  reject: (error: unknown) => void;
}

/**
 * The reads of a key's control item that a process makes, one at a time: the callers who ask while a
 * read is on its way wait for the next one, sent as soon as it is back, and share it. Each so gets a
 * read sent after it asked, which sees every write that ended before (a 429's cooldown included);
 * a hundred sub-agents starting at once read the item a few times, not a hundred, and their other
 * requests do not queue behind those reads.
 */
export class RateReads {
  private readers: Reader[] = [];
  private flying = false;

  constructor(private readonly read: (deadline: number) => Promise<RateRead>) {}

  /** A read of the control item sent after this call; never to be changed (others share it). */
  next(deadline: number): Promise<RateRead> {
    return new Promise<RateRead>((resolve, reject) => {
      this.readers.push({ deadline, resolve, reject });
      if (!this.flying) void this.fly();
    });
  }

  private async fly(): Promise<void> {
    this.flying = true;
    try {
      while (this.readers.length > 0) {
        const batch = this.readers;
        this.readers = [];
        try {
          // The earliest deadline bounds the retries of a throttled read for all of them.
          const read = await this.read(Math.min(...batch.map((r) => r.deadline)));
          for (const r of batch) r.resolve(read);
        } catch (error) {
          for (const r of batch) r.reject(error);
        }
      }
    } finally {
      this.flying = false;
    }
  }
}
