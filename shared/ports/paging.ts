/** Where a listing page starts and how long it is. */
export interface PageOptions {
  limit?: number;
  cursor?: string;
}

/** One page of a listing and the cursor of the next (absent on the last page). */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}
