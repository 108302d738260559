import type { PriceTable } from '#shared/domain/types';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import type { JobStore, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ReservationIndex } from '#shared/ports/reservations';
import { settleJob } from './close-job';

/** How long a reservation may stay open without a live job before the sweeper closes it (10 min). */
export const DEFAULT_RESERVATION_GRACE_MS = 10 * 60_000;

export interface SweepReservationsDeps {
  reservations: ReservationIndex;
  store: Pick<JobStore, 'getJob'>;
  steps: StepRecorder;
  ledger: BudgetLedger;
  prices?: PriceTable;
}

/** What one sweep did. */
export interface SweepOutcome {
  /** Open reservations older than the grace period that were looked at. */
  examined: number;
  /** Released whole: no job was ever stored for them (a crash between reserve and create). */
  released: number;
  /** Settled with the steps of their job, which had ended without settling. */
  settled: number;
  /** Left as they are: their job is still ACCEPTED or RUNNING. */
  live: number;
}

/**
 * Returns the money of reservations that no live job will ever settle: run on a schedule (a
 * Lambda every few minutes in the cloud, `parl serve` every minute locally). Idempotent, and safe
 * beside the normal paths: release and settle close a reservation once, whoever comes first.
 *
 * 1. list the open reservations made more than `graceMs` ago (a job is stored milliseconds after
 *    its reservation, so an older one without a job never gets one)
 * 2. for each, load its job:
 *    - none: release the reservation whole (no usage: nothing ran)
 *    - ended (terminal) without settling: settle it with its steps (every call made is billed)
 *    - ACCEPTED or RUNNING: leave it (its end settles it)
 */
export async function sweepReservations(
  deps: SweepReservationsDeps,
  opts: { graceMs?: number; now?: number } = {},
): Promise<SweepOutcome> {
  const cutoff = new Date((opts.now ?? Date.now()) - (opts.graceMs ?? DEFAULT_RESERVATION_GRACE_MS));
  const outcome: SweepOutcome = { examined: 0, released: 0, settled: 0, live: 0 };
  for await (const reservation of deps.reservations.openReservations(cutoff.toISOString())) {
    outcome.examined++;
    const ref = { tenantId: reservation.tenantId, jobId: reservation.jobId };
    const job = await deps.store.getJob(ref);
    if (!job) {
      await deps.ledger.release(ref);
      outcome.released++;
    } else if (TERMINAL_STATUSES.includes(job.status)) {
      await settleJob(deps, job);
      outcome.settled++;
    } else {
      outcome.live++;
    }
  }
  return outcome;
}
