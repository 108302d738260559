import type { Pacing } from '#shared/domain/limiter-rules';
import type { Issued, LimiterTable } from './limiter-table';

/** The most tickets one update of the clock takes. */
const MAX_BATCH = 100;

interface Asked {
  costMs: number;
  floor: number;
  busyFirst: boolean;
  prune: boolean;
  deadline: number;
  resolve: (issued: Issued) => void;
  reject: (error: unknown) => void;
}

/**
 * The tickets a process asks for, one update of the clock item at a time: while one update is on
 * its way, the callers who ask meanwhile wait for it and then take their tickets together, back to
 * back, in the next (as if one after the other). One item takes its writes one at a time: a
 * hundred sub-agents of one process each writing the clock queued behind each other, and the
 * tickets that landed last had started too long ago and were void, and taken again.
 */
export class TicketBatcher {
  private readonly asked: Asked[] = [];
  private flying = false;

  constructor(
    private readonly table: LimiterTable,
    private readonly pacing: Pacing,
  ) {}

  /** A ticket as {@link LimiterTable.takeTickets} gives it, alone or with others asked meanwhile. */
  take(costMs: number, floor: number, busyFirst: boolean, prune: boolean, deadline: number): Promise<Issued> {
    return new Promise<Issued>((resolve, reject) => {
      this.asked.push({ costMs, floor, busyFirst, prune, deadline, resolve, reject });
      if (!this.flying) void this.fly();
    });
  }

  private async fly(): Promise<void> {
    this.flying = true;
    try {
      while (this.asked.length > 0) {
        const batch = this.asked.splice(0, MAX_BATCH);
        try {
          const issued = await this.table.takeTickets(
            this.pacing,
            batch.map((b) => b.costMs),
            // The latest floor (no ticket starts before any of them can have it back), the
            // earliest deadline, the first caller's guess of the clock's branch.
            Math.max(...batch.map((b) => b.floor)),
            batch[0]?.busyFirst ?? true,
            batch.every((b) => b.prune),
            Math.min(...batch.map((b) => b.deadline)),
          );
          for (const [i, b] of batch.entries()) b.resolve(issued[i] as Issued);
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.flying = false;
    }
  }
}
