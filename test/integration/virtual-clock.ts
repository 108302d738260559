import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LimiterClock } from '#shared/adapters/dynamo/limiter-items';

interface Timer {
  at: number;
  order: number;
  resolve: () => void;
}

/**
 * Virtual time for tests of code that sleeps between real requests: time stands still while any
 * request is in flight (or anything else is running) and jumps to the next sleeper's wake-up
 * when all is quiet. Requests of the clients it {@link VirtualClock.track}s take a virtual network
 * delay each way, so callers interleave as they would over a network, without real waiting.
 */
export class VirtualClock implements LimiterClock {
  private t = 1_000_000;
  private order = 0;
  private timers: Timer[] = [];
  private inFlight = 0;

  constructor(private readonly delay: () => number = () => 0) {}

  now = (): number => this.t;

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = { at: this.t + Math.max(0, ms), order: this.order++, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          resolve();
        },
        { once: true },
      );
    });

  /** Counts the client's requests as in flight and gives each a virtual delay to and from the table. */
  track(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next) => async (args) => {
        await this.sleep(this.delay());
        this.inFlight += 1;
        try {
          return await next(args);
        } finally {
          this.inFlight -= 1;
          await this.sleep(this.delay());
        }
      },
      { step: 'initialize', name: 'virtualNetwork' },
    );
  }

  /** Runs `work` to its end, moving time on whenever nothing else can happen (for at most `limitMs`). */
  async run<T>(work: Promise<T>, limitMs = 24 * 3_600_000): Promise<T> {
    const end = this.t + limitMs;
    let finished = false;
    const settled = work.then(
      () => {
        finished = true;
      },
      () => {
        finished = true;
      },
    );
    while (!finished) {
      await this.quiet();
      if (finished) break;
      this.timers.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.timers.shift();
      if (!next) throw new Error('virtual clock: everybody waits for nothing (a deadlock)');
      if (next.at > end) throw new Error(`virtual clock: still running after ${limitMs} ms (a livelock?)`);
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
    await settled;
    return work;
  }

  /** Waits until no request is in flight for a few turns of the event loop. */
  private async quiet(): Promise<void> {
    for (let calm = 0; calm < 3; ) {
      await new Promise((r) => setImmediate(r));
      calm = this.inFlight === 0 ? calm + 1 : 0;
    }
  }
}
