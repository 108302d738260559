/** Maps an idempotency key to the job it created, with the hash of the request it came with. */
export interface IdempotencyStore {
  /**
   * Claims `key` for `jobId`/`requestHash`. Returns the claim in force: the new one, or the earlier
   * one with the same key (the caller compares its hash).
   */
  claim(
    tenantId: string,
    key: string,
    claim: { jobId: string; requestHash: string },
  ): Promise<{ jobId: string; requestHash: string }>;
}
