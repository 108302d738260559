import type { JobRef } from './job-store';

/** The prefix of item lists in their bucket (the state machine's role reads only this prefix). */
export const ITEMS_PREFIX = 'items/';

/** Where a stage's work items are kept for a Distributed Map's ItemReader. */
export interface ItemLocation {
  bucket: string;
  key: string;
}

/**
 * Keeps a stage's item list (the sub-agents' assignments) outside the state, so a Distributed Map
 * of any size reads it with an ItemReader instead of through the 256 KiB state payload.
 */
export interface ItemStore {
  /** Stores the items as one JSON array; the same job and stage always write the same object. */
  putItems(ref: JobRef, stage: number, items: readonly unknown[]): Promise<ItemLocation>;
}
