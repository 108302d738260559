import { describe, expect, it } from 'vitest';
import { AuthError, RequestValidationError } from '#shared/domain/errors';
import { hashApiKey, newApiKey, type Tenant, tenantOfApiKey } from '#shared/domain/tenant';
import type { TenantStore } from '#shared/ports/tenants';
import {
  authenticate,
  type CreateTenantInput,
  checkTenantInput,
  createTenant,
  ensureTenant,
  rotateApiKey,
} from '#shared/use-cases/tenants';
import { tenant } from './accept-fakes';
import { thrown } from './thrown';

const CAP = 64;
const VALID: CreateTenantInput = { name: 'Acme Corp.', budgetUsd: 25, maxSubagents: 8 };

/** A tenant store in memory, and what it was asked to do; `createTenant` fails with `createFails`. */
function memoryTenants(initial: Tenant[] = [], opts: { createFails?: Error } = {}) {
  const tenants = new Map(initial.map((t) => [t.tenantId, t]));
  const rotations: [string, string, unknown][] = [];
  const updates: [string, unknown][] = [];
  const store = {
    getTenant: (id: string) => Promise.resolve(tenants.get(id)),
    createTenant: (t: Tenant) => {
      if (opts.createFails) return Promise.reject(opts.createFails);
      tenants.set(t.tenantId, t);
      return Promise.resolve();
    },
    updateSettings: (id: string, settings: Partial<Tenant>) => {
      updates.push([id, settings]);
      const updated = { ...(tenants.get(id) as Tenant), ...settings };
      tenants.set(id, updated);
      return Promise.resolve(updated);
    },
    rotateKey: (id: string, keyHash: string, o: unknown) => {
      rotations.push([id, keyHash, o]);
      return Promise.resolve();
    },
  } as unknown as TenantStore;
  return { store, tenants, rotations, updates };
}

/** The field a rejected input names, or 'accepted'. */
function verdict(input: Partial<CreateTenantInput>): string {
  try {
    checkTenantInput({ ...VALID, ...input }, CAP);
    return 'accepted';
  } catch (error) {
    return error instanceof RequestValidationError ? error.field : `not a validation error: ${String(error)}`;
  }
}

describe('checkTenantInput', () => {
  it.each([
    ['a one-character name', { name: 'A' }, 'accepted'],
    ['a name of 100 characters', { name: 'n'.repeat(100) }, 'accepted'],
    ["a name with .,'&()-", { name: "O'Brien & Sons (UK), Ltd.-2" }, 'accepted'],
    ['an empty name', { name: '' }, 'name'],
    ['a name of 101 characters', { name: 'n'.repeat(101) }, 'name'],
    ['a name starting with markup', { name: '<b>Acme' }, 'name'],
    ['a name ending with markup', { name: 'Acme<b>' }, 'name'],
    ['a budget of 0', { budgetUsd: 0 }, 'accepted'],
    ['a budget of 1,000,000', { budgetUsd: 1_000_000 }, 'accepted'],
    ['a negative budget', { budgetUsd: -0.01 }, 'budgetUsd'],
    ['a budget over 1,000,000', { budgetUsd: 1_000_000.01 }, 'budgetUsd'],
    ['a budget that is not a number', { budgetUsd: Number.NaN }, 'budgetUsd'],
    ['an infinite budget', { budgetUsd: Number.POSITIVE_INFINITY }, 'budgetUsd'],
    ['a cap of 1', { maxSubagents: 1 }, 'accepted'],
    ['a cap at the service’s', { maxSubagents: CAP }, 'accepted'],
    ['a cap of 0', { maxSubagents: 0 }, 'maxSubagents'],
    ['a cap over the service’s', { maxSubagents: CAP + 1 }, 'maxSubagents'],
    ['a fractional cap', { maxSubagents: 2.5 }, 'maxSubagents'],
    ['annealing off (0 jobs)', { annealJobs: 0 }, 'accepted'],
    ['annealing over 30 jobs', { annealJobs: 30 }, 'accepted'],
    ['annealing over -1 jobs', { annealJobs: -1 }, 'annealJobs'],
    ['annealing over 1.5 jobs', { annealJobs: 1.5 }, 'annealJobs'],
    ['weights that sum to 1', { weights: { parallel: 0.5, finish: 0.25, perf: 0.25 } }, 'accepted'],
    ['weights that do not sum to 1', { weights: { parallel: 0.5, finish: 0.5, perf: 0.5 } }, 'weights'],
    ['10,000 requests a second', { requestsPerSecond: 10_000 }, 'accepted'],
    ['0 requests a second', { requestsPerSecond: 0 }, 'requestsPerSecond'],
    ['1 job at once', { maxConcurrentJobs: 1 }, 'accepted'],
    ['10,001 jobs at once', { maxConcurrentJobs: 10_001 }, 'maxConcurrentJobs'],
  ] as const)('judges %s: %s', (_what, input, expected) => {
    expect(verdict(input)).toBe(expected);
  });

  it('says what each wrong field must be', () => {
    const reason = (input: Partial<CreateTenantInput>) =>
      (thrown(() => checkTenantInput({ ...VALID, ...input }, CAP)) as RequestValidationError).message;
    expect(reason({ name: '' })).toBe("name: must be 1-100 letters, digits, spaces or .,'&()-");
    expect(reason({ budgetUsd: -1 })).toBe('budgetUsd: must be a number of dollars from 0 to 1,000,000');
    expect(reason({ maxSubagents: 0 })).toBe('maxSubagents: must be an integer from 1 to 64');
    expect(reason({ annealJobs: -1 })).toBe('annealJobs: must be a whole number of jobs, 0 = off');
  });
});

describe('createTenant', () => {
  it('stores an ACTIVE tenant with its whole budget available and returns the key only it can use', async () => {
    // Prepare
    const { store, tenants } = memoryTenants();
    const before = Date.now();
    // Act
    const { tenant: made, apiKey } = await createTenant(
      { tenants: store, maxSubagentsCap: CAP },
      { ...VALID, budgetUsd: 12.3456789 },
    );
    // Assess
    expect(made.tenantId).toMatch(/^t-[a-z0-9]{12}$/);
    expect(tenantOfApiKey(apiKey)).toBe(made.tenantId);
    expect(tenants.get(made.tenantId)).toEqual(made);
    expect(made).toEqual({
      tenantId: made.tenantId,
      name: 'Acme Corp.',
      status: 'ACTIVE',
      createdAt: made.createdAt,
      keyHash: hashApiKey(apiKey),
      budgetUsd: 12.345679,
      availableUsd: 12.345679,
      reservedUsd: 0,
      spentUsd: 0,
      maxSubagents: 8,
      activeJobs: 0,
    });
    expect(Date.parse(made.createdAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(made.createdAt)).toBeLessThanOrEqual(Date.now());
  });

  it('keeps the optional settings given, the weights as three parts only', async () => {
    const { store } = memoryTenants();
    const weights = {
      parallel: 0.6,
      finish: 0.3,
      perf: 0.1,
      extra: 9,
    } as unknown as CreateTenantInput['weights'];
    const { tenant: made } = await createTenant(
      { tenants: store, maxSubagentsCap: CAP },
      { ...VALID, annealJobs: 0, weights, requestsPerSecond: 20, maxConcurrentJobs: 3 },
    );
    expect(made).toMatchObject({ annealJobs: 0, requestsPerSecond: 20, maxConcurrentJobs: 3 });
    expect(made.weights).toEqual({ parallel: 0.6, finish: 0.3, perf: 0.1 });
  });

  it('leaves out the settings not given', async () => {
    const { store } = memoryTenants();
    const { tenant: made } = await createTenant({ tenants: store, maxSubagentsCap: CAP }, VALID);
    for (const key of ['annealJobs', 'weights', 'requestsPerSecond', 'maxConcurrentJobs']) {
      expect(made).not.toHaveProperty(key);
    }
  });

  it('stores nothing for an input it refuses', async () => {
    const { store, tenants } = memoryTenants();
    const error = await createTenant(
      { tenants: store, maxSubagentsCap: CAP },
      { ...VALID, maxSubagents: CAP + 1 },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RequestValidationError);
    expect(tenants.size).toBe(0);
  });
});

describe('rotateApiKey', () => {
  it('stores the hash of a new key for the tenant and returns the key, reactivating only when asked', async () => {
    const { store, rotations } = memoryTenants();
    const first = await rotateApiKey({ tenants: store }, 't-abcdefabcdef');
    const second = await rotateApiKey({ tenants: store }, 't-abcdefabcdef', { reactivate: true });
    expect(tenantOfApiKey(first)).toBe('t-abcdefabcdef');
    expect(second).not.toBe(first);
    expect(rotations).toEqual([
      ['t-abcdefabcdef', hashApiKey(first), {}],
      ['t-abcdefabcdef', hashApiKey(second), { reactivate: true }],
    ]);
  });
});

describe('authenticate', () => {
  const TENANT_ID = 't-0123456789ab';
  const KEY = newApiKey(TENANT_ID);
  const stored = (over: Partial<Tenant> = {}) =>
    memoryTenants([tenant(TENANT_ID, { keyHash: hashApiKey(KEY), ...over })]).store;

  it('resolves a valid key to its tenant', async () => {
    expect(await authenticate({ tenants: stored() }, KEY)).toMatchObject({ tenantId: TENANT_ID });
  });

  it.each([
    ['no key', undefined, 'the x-api-key header is missing'],
    ['an empty key', '', 'the x-api-key header is missing'],
    ['a malformed key', 'parl_nobody_short', 'the API key is malformed'],
    ['the key of an unknown tenant', newApiKey('t-ffffffffffff'), 'the API key is not valid'],
    ['another key of the tenant', newApiKey(TENANT_ID), 'the API key is not valid'],
  ])('refuses %s (401)', async (_what, key, message) => {
    const error = await authenticate({ tenants: stored() }, key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ message, revoked: false });
  });

  it('refuses the key of a revoked tenant as revoked (403)', async () => {
    const error = await authenticate({ tenants: stored({ status: 'REVOKED' }) }, KEY).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ message: 'the API key has been revoked', revoked: true });
  });
});

describe('ensureTenant', () => {
  it('leaves a tenant whose cap already equals the one asked as it is', async () => {
    const existing = tenant('local', { maxSubagents: 20 });
    const { store, updates } = memoryTenants([existing]);
    expect(
      await ensureTenant({ tenants: store }, { tenantId: 'local', budgetUsd: 1, maxSubagents: 20 }),
    ).toBe(existing);
    expect(updates).toEqual([]);
  });

  it('throws the store’s error when the creation failed and no tenant was created meanwhile', async () => {
    const failure = new Error('throttled');
    const { store } = memoryTenants([], { createFails: failure });
    const error = await ensureTenant(
      { tenants: store },
      { tenantId: 'local', budgetUsd: 1, maxSubagents: 2 },
    ).catch((e: unknown) => e);
    expect(error).toBe(failure);
  });
});
