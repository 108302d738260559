import { describe, expect, it } from 'vitest';
import { AGGREGATE_RESERVE_MS, boundWidth, jobDeadline } from '#shared/use-cases/fan-out-bounds';

const slots = (free: number) => ({ freeSlots: () => Promise.resolve(free) });
const cloud = (subagentConcurrency?: number, executionTimeoutMs?: number) => ({
  cloud: { subagentConcurrency, executionTimeoutMs },
});

describe('boundWidth', () => {
  it.each([
    // asked, free slots, reserved concurrency → width, bound by
    [100, 90, undefined, 90, 'free-slots'],
    [100, 500, 40, 40, 'reserved-concurrency'],
    [100, 30, 40, 30, 'free-slots'],
    [20, 90, 40, 20, undefined],
    [20, 0, undefined, 1, 'free-slots'],
  ])(
    'runs %i asked with %i free slots and %s reserved at %i (%s)',
    async (asked, free, reserved, width, by) => {
      const bound = await boundWidth({ slots: slots(free), config: cloud(reserved) }, asked);
      expect(bound).toEqual(by ? { width, boundBy: by } : { width });
    },
  );

  it('keeps the asked width without a limiter or cloud bounds', async () => {
    expect(await boundWidth({ config: {} }, 1000)).toEqual({ width: 1000 });
  });
});

describe('jobDeadline', () => {
  it('puts the sub-agents’ deadline inside the execution timeout, with room for Aggregate', () => {
    const accepted = '2026-12-02T10:00:00.000Z';
    expect(jobDeadline(cloud(undefined, 3_600_000), accepted)).toBe(
      new Date(Date.parse(accepted) + 3_600_000 - AGGREGATE_RESERVE_MS).toISOString(),
    );
    expect(jobDeadline(cloud(), accepted)).toBeUndefined();
  });
});
