/** A tenant's request rate: whether one more request fits in its limit now. */
export interface RequestLimiter {
  /**
   * Counts a request of the tenant if fewer than `perSecond` were counted in the current second;
   * else counts nothing and says when to try again.
   */
  admit(
    tenantId: string,
    perSecond: number,
  ): Promise<{ admitted: true } | { admitted: false; retryAfterSeconds: number }>;
}
