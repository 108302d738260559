import { describe, expect, it } from 'vitest';
import { apiKeyMatches, type Tenant } from '#shared/domain/tenant';
import type { TenantStore } from '#shared/ports/tenants';
import { ensureTenant } from '#shared/use-cases/tenants';
import { tenant } from './accept-fakes';

/** A tenant store in memory; `createTenant` fails once with `raceWith` stored first, as a concurrent caller would. */
function memoryTenants(initial: Tenant[] = [], raceWith?: Tenant) {
  const tenants = new Map(initial.map((t) => [t.tenantId, t]));
  const store: Pick<TenantStore, 'getTenant' | 'createTenant' | 'updateSettings'> = {
    getTenant: (id) => Promise.resolve(tenants.get(id)),
    createTenant: (t) => {
      if (raceWith) {
        tenants.set(raceWith.tenantId, raceWith);
        return Promise.reject(new Error('ConditionalCheckFailedException'));
      }
      tenants.set(t.tenantId, t);
      return Promise.resolve();
    },
    updateSettings: (id, settings) => {
      const updated = { ...(tenants.get(id) as Tenant), ...settings };
      tenants.set(id, updated);
      return Promise.resolve(updated);
    },
  };
  return { store: store as TenantStore, tenants };
}

describe('ensureTenant', () => {
  it('creates an absent tenant ACTIVE with the budget all available and a key nobody holds', async () => {
    // Prepare
    const { store, tenants } = memoryTenants();
    // Act
    const made = await ensureTenant(
      { tenants: store },
      { tenantId: 'local', budgetUsd: 100, maxSubagents: 1000 },
    );
    // Assess
    expect(tenants.get('local')).toEqual(made);
    expect(made).toMatchObject({
      status: 'ACTIVE',
      budgetUsd: 100,
      availableUsd: 100,
      reservedUsd: 0,
      spentUsd: 0,
      maxSubagents: 1000,
    });
    expect(apiKeyMatches('parl_local_', made.keyHash)).toBe(false);
  });

  it("leaves an existing tenant's money alone and only raises a lower cap", async () => {
    // Prepare
    const spent = tenant('local', { budgetUsd: 100, availableUsd: 40, spentUsd: 60, maxSubagents: 10 });
    const { store } = memoryTenants([spent]);
    // Act
    const raised = await ensureTenant(
      { tenants: store },
      { tenantId: 'local', budgetUsd: 5, maxSubagents: 20 },
    );
    const kept = await ensureTenant(
      { tenants: store },
      { tenantId: 'local', budgetUsd: 5, maxSubagents: 15 },
    );
    // Assess
    expect(raised).toMatchObject({ availableUsd: 40, spentUsd: 60, maxSubagents: 20 });
    expect(kept.maxSubagents).toBe(20);
  });

  it('returns the tenant a concurrent caller created first', async () => {
    // Prepare
    const theirs = tenant('local', { budgetUsd: 7 });
    const { store } = memoryTenants([], theirs);
    // Act
    const got = await ensureTenant(
      { tenants: store },
      { tenantId: 'local', budgetUsd: 100, maxSubagents: 50 },
    );
    // Assess
    expect(got).toEqual(theirs);
  });
});
