import { TenantLimitError } from '#shared/domain/errors';
import { DEFAULT_TENANT_LIMITS } from '#shared/domain/tenant';
import type { RequestLimiter } from '#shared/ports/request-limiter';

/**
 * Lets a tenant's API request through if it is within the tenant's requests a second; else
 * TenantLimitError (429, Retry-After). Every authenticated route runs it first, so a tenant that
 * polls hard slows only itself. (The jobs-at-once limit is the ledger's, at reservation.)
 *
 * 1. count the request in the tenant's current second, within `requestsPerSecond`
 * 2. over the limit: refuse, naming the limit and when to try again
 */
export async function admitRequest(
  deps: { requests: RequestLimiter },
  tenantId: string,
  requestsPerSecond: number = DEFAULT_TENANT_LIMITS.requestsPerSecond,
): Promise<void> {
  const out = await deps.requests.admit(tenantId, requestsPerSecond);
  if (out.admitted) return;
  throw new TenantLimitError(
    `the tenant sent more than its limit of ${requestsPerSecond} requests a second (requestsPerSecond); try again in ${out.retryAfterSeconds} s`,
    { limit: 'requestsPerSecond', value: requestsPerSecond, retryAfterSeconds: out.retryAfterSeconds },
  );
}
