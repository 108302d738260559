import type { JobRef } from '#shared/ports/job-store';

/** A job's reservation not yet settled or released. */
export interface OpenReservation extends JobRef {
  /** When it was made (ISO). */
  createdAt: string;
}

/** The open reservations of every tenant: what the reservation sweeper looks through. */
export interface ReservationIndex {
  /** Every open reservation made before `createdBefore` (ISO), oldest first. */
  openReservations(createdBefore: string): AsyncIterable<OpenReservation>;
}
