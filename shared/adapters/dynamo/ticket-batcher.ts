import type { Pacing } from '#shared/domain/limiter-rules';
import { Coalescer } from './coalescer';
import type { Issued, LimiterTable } from './limiter-table';

/**
 * The most tickets one update of the clock takes: a Map of a thousand sub-agents in one process
 * (the local stack) asks for them in one turn, and at a hundred an update their last tickets came
 * ten round trips of a busy table late (~230 ms). Taking them together costs nothing: one update
 * moves the clock by their sum either way, and a process of one Lambda asks for one.
 */
const MAX_BATCH = 1_000;

interface Asked {
  costMs: number;
  floor: number;
  busyFirst: boolean;
  prune: boolean;
  deadline: number;
}

/**
 * The tickets a process asks for, one update of the clock item at a time ({@link Coalescer}): while
 * one update is on its way, the callers who ask meanwhile wait for it and then take their tickets
 * together, back to back, in the next (as if one after the other). One item takes its writes one at
 * a time: a hundred sub-agents of one process each writing the clock queued behind each other, and
 * the tickets that landed last had started too long ago and were void, and taken again.
 */
export class TicketBatcher {
  private readonly tickets: Coalescer<Asked, Issued>;

  constructor(table: LimiterTable, pacing: Pacing) {
    this.tickets = new Coalescer(
      (waiting) => Math.min(MAX_BATCH, waiting.length),
      (batch) =>
        table.takeTickets(
          pacing,
          batch.map((b) => b.costMs),
          // The latest floor (no ticket starts before any of them can have it back), the
          // earliest deadline, the first caller's guess of the clock's branch.
          Math.max(...batch.map((b) => b.floor)),
          batch[0]?.busyFirst ?? true,
          batch.every((b) => b.prune),
          Math.min(...batch.map((b) => b.deadline)),
        ),
    );
  }

  /** A ticket as {@link LimiterTable.takeTickets} gives it, alone or with others asked meanwhile. */
  take(costMs: number, floor: number, busyFirst: boolean, prune: boolean, deadline: number): Promise<Issued> {
    return this.tickets.ask({ costMs, floor, busyFirst, prune, deadline });
  }
}
