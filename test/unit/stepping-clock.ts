import type { LimiterClock } from '#shared/adapters/dynamo/limiter-items';

/** Where a {@link SteppingClock} starts. */
export const T0 = 1_000_000;

/** A clock for one caller at a time: a sleep moves time on by its length at once. */
export class SteppingClock implements LimiterClock {
  t = T0;
  now = (): number => this.t;
  sleep = (ms: number): Promise<void> => {
    this.t += Math.max(0, ms);
    return Promise.resolve();
  };
}
