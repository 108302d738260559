import { describe, expect, it } from 'vitest';
import type { Issued, LimiterTable } from '#shared/adapters/dynamo/limiter-table';
import { TicketBatcher } from '#shared/adapters/dynamo/ticket-batcher';
import { pacingOf } from '#shared/domain/limiter-rules';

const pacing = pacingOf({ maxConcurrency: 10, rpm: 600, tpm: undefined, windowMs: 60_000 });

interface Update {
  costs: number[];
  floor: number;
  busyFirst: boolean;
  prune: boolean;
  deadline: number;
}

/** A clock table that records each update it is asked for and gives tickets back to back from 0. */
function recordingTable() {
  const updates: Update[] = [];
  const table = {
    takeTickets: (
      _pacing: unknown,
      costs: readonly number[],
      floor: number,
      busyFirst: boolean,
      prune: boolean,
      deadline: number,
    ): Promise<Issued[]> => {
      updates.push({ costs: [...costs], floor, busyFirst, prune, deadline });
      let start = 0;
      return Promise.resolve(
        costs.map((costMs, i) => {
          const ticket = { start, costMs, shiftEpoch: 0, shiftCount: 0 };
          start += costMs;
          return { ticket, seq: i + 1, read: {} as Issued['read'], floor };
        }),
      );
    },
  };
  return { table: table as unknown as LimiterTable, updates };
}

describe('TicketBatcher', () => {
  it('takes the tickets asked in one turn in one update, back to back, in the order asked', async () => {
    // Prepare
    const { table, updates } = recordingTable();
    const batcher = new TicketBatcher(table, pacing);
    // Act
    const issued = await Promise.all([
      batcher.take(100, 1_000, false, true, 9_000),
      batcher.take(200, 3_000, true, false, 5_000),
      batcher.take(300, 2_000, true, true, 7_000),
    ]);
    // Assess: one update with every cost; each caller its own ticket
    expect(updates).toHaveLength(1);
    expect(updates[0]?.costs).toEqual([100, 200, 300]);
    expect(issued.map((i) => i.ticket.start)).toEqual([0, 100, 300]);
    expect(issued.map((i) => i.seq)).toEqual([1, 2, 3]);
  });

  it('takes an update with the latest floor, the earliest deadline, the first guess of the branch, and prunes only if every caller may', async () => {
    // Prepare
    const { table, updates } = recordingTable();
    const batcher = new TicketBatcher(table, pacing);
    // Act
    await Promise.all([
      batcher.take(100, 1_000, false, true, 9_000),
      batcher.take(200, 3_000, true, false, 5_000),
      batcher.take(300, 2_000, true, true, 7_000),
    ]);
    // Assess
    expect(updates[0]).toMatchObject({ floor: 3_000, deadline: 5_000, busyFirst: false, prune: false });
  });

  it('prunes when every caller of the update may', async () => {
    // Prepare
    const { table, updates } = recordingTable();
    const batcher = new TicketBatcher(table, pacing);
    // Act
    await Promise.all([
      batcher.take(100, 1_000, true, true, 9_000),
      batcher.take(100, 1_000, true, true, 9_000),
    ]);
    // Assess
    expect(updates[0]).toMatchObject({ prune: true, busyFirst: true });
  });

  it('takes a thousand tickets asked together in one update: a wide job waits for one round trip, not ten', async () => {
    // Prepare
    const { table, updates } = recordingTable();
    const batcher = new TicketBatcher(table, pacing);
    // Act
    const issued = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => batcher.take(10, 1_000 + i, true, false, 60_000)),
    );
    // Assess
    expect(updates.map((u) => u.costs.length)).toEqual([1_000]);
    expect(updates.map((u) => u.floor)).toEqual([1_999]);
    expect(issued.map((i) => i.ticket.start).slice(-2)).toEqual([9_980, 9_990]);
  });

  it('takes at most 1,000 tickets in one update; the rest go in the next', async () => {
    // Prepare
    const { table, updates } = recordingTable();
    const batcher = new TicketBatcher(table, pacing);
    // Act
    const issued = await Promise.all(
      Array.from({ length: 1_500 }, (_, i) => batcher.take(10, 1_000 + i, true, false, 60_000)),
    );
    // Assess
    expect(updates.map((u) => u.costs.length)).toEqual([1_000, 500]);
    expect(updates.map((u) => u.floor)).toEqual([1_999, 2_499]);
    expect(issued).toHaveLength(1_500);
  });
});
