import { AuthError, RequestValidationError } from '#shared/domain/errors';
import {
  apiKeyMatches,
  checkTenantLimit,
  checkWeights,
  hashApiKey,
  newApiKey,
  newTenantId,
  type Tenant,
  tenantOfApiKey,
  usd,
} from '#shared/domain/tenant';
import type { RewardWeights } from '#shared/domain/types';
import type { TenantStore } from '#shared/ports/tenants';

export interface CreateTenantInput {
  name: string;
  budgetUsd: number;
  maxSubagents: number;
  /** λ annealing over this many jobs per policy (0 = off); unset = the service default. */
  annealJobs?: number;
  /** The tenant's λ of rPARL (sum 1); unset = the defaults. */
  weights?: RewardWeights;
  /** API requests a second at most; unset = the default. */
  requestsPerSecond?: number;
  /** Jobs at once at most; unset = the default. */
  maxConcurrentJobs?: number;
}

/** Checks an operator's input for a new tenant; names the wrong field. */
export function checkTenantInput(input: CreateTenantInput, maxSubagentsCap: number): void {
  if (!/^[\w .,'&()-]{1,100}$/u.test(input.name)) {
    throw new RequestValidationError('name', "must be 1-100 letters, digits, spaces or .,'&()-");
  }
  if (!Number.isFinite(input.budgetUsd) || input.budgetUsd < 0 || input.budgetUsd > 1_000_000) {
    throw new RequestValidationError('budgetUsd', 'must be a number of dollars from 0 to 1,000,000');
  }
  if (
    !Number.isInteger(input.maxSubagents) ||
    input.maxSubagents < 1 ||
    input.maxSubagents > maxSubagentsCap
  ) {
    throw new RequestValidationError('maxSubagents', `must be an integer from 1 to ${maxSubagentsCap}`);
  }
  if (input.annealJobs !== undefined && (!Number.isInteger(input.annealJobs) || input.annealJobs < 0)) {
    throw new RequestValidationError('annealJobs', 'must be a whole number of jobs, 0 = off');
  }
  if (input.weights !== undefined) checkWeights(input.weights);
  if (input.requestsPerSecond !== undefined) checkTenantLimit('requestsPerSecond', input.requestsPerSecond);
  if (input.maxConcurrentJobs !== undefined) checkTenantLimit('maxConcurrentJobs', input.maxConcurrentJobs);
}

/**
 * Creates a tenant with a budget and returns its API key, which exists only in this result: the
 * store keeps its SHA-256.
 */
export async function createTenant(
  deps: { tenants: TenantStore; maxSubagentsCap: number },
  input: CreateTenantInput,
): Promise<{ tenant: Tenant; apiKey: string }> {
  checkTenantInput(input, deps.maxSubagentsCap);
  const tenantId = newTenantId();
  const apiKey = newApiKey(tenantId);
  const budget = usd(input.budgetUsd);
  const tenant: Tenant = {
    tenantId,
    name: input.name,
    status: 'ACTIVE',
    createdAt: new Date().toISOString(),
    keyHash: hashApiKey(apiKey),
    budgetUsd: budget,
    availableUsd: budget,
    reservedUsd: 0,
    spentUsd: 0,
    maxSubagents: input.maxSubagents,
    ...(input.annealJobs === undefined ? {} : { annealJobs: input.annealJobs }),
    ...(input.weights === undefined ? {} : { weights: checkWeights(input.weights) }),
    ...(input.requestsPerSecond === undefined ? {} : { requestsPerSecond: input.requestsPerSecond }),
    ...(input.maxConcurrentJobs === undefined ? {} : { maxConcurrentJobs: input.maxConcurrentJobs }),
    activeJobs: 0,
  };
  await deps.tenants.createTenant(tenant);
  return { tenant, apiKey };
}

/**
 * Issues a new key for an ACTIVE tenant (the old one stops working). A revoked tenant is refused
 * (StateConflictError) unless `reactivate`: rotating must not quietly undo a revocation.
 */
export async function rotateApiKey(
  deps: { tenants: TenantStore },
  tenantId: string,
  opts: { reactivate?: boolean } = {},
): Promise<string> {
  const apiKey = newApiKey(tenantId);
  await deps.tenants.rotateKey(tenantId, hashApiKey(apiKey), opts);
  return apiKey;
}

/**
 * Resolves an API key to its tenant. Missing, malformed or unknown keys → AuthError (401); the key
 * of a revoked tenant → AuthError with `revoked` (403).
 */
export async function authenticate(
  deps: { tenants: TenantStore },
  apiKey: string | undefined,
): Promise<Tenant> {
  if (!apiKey) throw new AuthError('the x-api-key header is missing');
  const tenantId = tenantOfApiKey(apiKey);
  if (!tenantId) throw new AuthError('the API key is malformed');
  const tenant = await deps.tenants.getTenant(tenantId);
  if (!tenant || !apiKeyMatches(apiKey, tenant.keyHash)) throw new AuthError('the API key is not valid');
  if (tenant.status !== 'ACTIVE') throw new AuthError('the API key has been revoked', true);
  return tenant;
}

/**
 * Makes sure a tenant exists under a fixed id (the `local` tenant of `parl run`, a bench's own):
 * created ACTIVE with `budgetUsd` when absent, its cap raised to `maxSubagents` when lower. Its API
 * key is never shown, so nobody can call the API as this tenant. Returns the tenant as stored.
 */
export async function ensureTenant(
  deps: { tenants: TenantStore },
  input: { tenantId: string; budgetUsd: number; maxSubagents: number },
): Promise<Tenant> {
  const existing = await deps.tenants.getTenant(input.tenantId);
  if (existing) {
    if (existing.maxSubagents >= input.maxSubagents) return existing;
    return deps.tenants.updateSettings(input.tenantId, { maxSubagents: input.maxSubagents });
  }
  const budget = usd(input.budgetUsd);
  const tenant: Tenant = {
    tenantId: input.tenantId,
    name: input.tenantId,
    status: 'ACTIVE',
    createdAt: new Date().toISOString(),
    keyHash: hashApiKey(newApiKey(input.tenantId)),
    budgetUsd: budget,
    availableUsd: budget,
    reservedUsd: 0,
    spentUsd: 0,
    maxSubagents: input.maxSubagents,
  };
  try {
    await deps.tenants.createTenant(tenant);
    return tenant;
  } catch (error) {
    // Created meanwhile by a concurrent caller: theirs stands.
    const created = await deps.tenants.getTenant(input.tenantId);
    if (created) return created;
    throw error;
  }
}
