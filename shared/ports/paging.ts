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

/**
 * Every item of a paged listing, page after page, following the cursors to the last page.
 *
 * @example
 * for await (const job of allItems((cursor) => store.listJobs(tenantId, { cursor }))) …
 */
export async function* allItems<T>(
  listPage: (cursor: string | undefined) => Promise<Page<T>>,
): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await listPage(cursor);
    yield* page.items;
    cursor = page.nextCursor;
  } while (cursor);
}
