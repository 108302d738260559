import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { BudgetExceededError, TenantLimitError } from '#shared/domain/errors';
import type { Tenant } from '#shared/domain/tenant';
import { useDynaliteTable } from './dynalite-table';

/** A fresh ACTIVE tenant with `budgetUsd` all available. */
const tenantOf = (budgetUsd: number): Tenant => ({
  tenantId: `t-${randomUUID()}`,
  name: 'balance test',
  status: 'ACTIVE',
  createdAt: '2026-12-01T00:00:00.000Z',
  keyHash: 'hash-0',
  budgetUsd,
  availableUsd: budgetUsd,
  reservedUsd: 0,
  spentUsd: 0,
  maxSubagents: 5,
});

/**
 * Why a reservation on the tenant's balance is refused (tenant-balance.ts, through the budget
 * ledger's `reserve`), on dynalite: the balance, or the tenant's limit of jobs at once.
 */
describe('holding a job’s reservation from the tenant on dynalite', () => {
  const table = useDynaliteTable();
  let tenants: DynamoTenantStore;
  let ledger: DynamoBudgetLedger;

  beforeAll(() => {
    tenants = new DynamoTenantStore(table.doc, table.tableName);
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
  });

  /** Creates a tenant of `budgetUsd` and returns its id. */
  const created = async (budgetUsd: number) => {
    const tenant = tenantOf(budgetUsd);
    await tenants.createTenant(tenant);
    return tenant.tenantId;
  };

  it.each([
    ['with no limit of jobs at once', {}],
    ['below its limit of jobs at once', { maxConcurrentJobs: 3 }],
  ])(
    'refuses a job beyond the balance of a tenant %s with a BudgetExceededError naming what it needs and what is available',
    async (_, opts) => {
      // Prepare: $2.50 of $10 held by a running job
      const tenantId = await created(10);
      await ledger.reserve({ tenantId, jobId: 'running' }, 2.5, opts);
      // Act
      const refused = ledger.reserve({ tenantId, jobId: 'too-dear' }, 8, opts);
      // Assess
      await expect(refused).rejects.toBeInstanceOf(BudgetExceededError);
      await expect(refused).rejects.toMatchObject({
        requiredUsd: 8,
        availableUsd: 7.5,
        message:
          'the budget cannot cover this job: it needs $8.0000 and $7.5000 of the $10.00 budget is available',
      });
      expect(await tenants.getTenant(tenantId)).toMatchObject({
        availableUsd: 7.5,
        reservedUsd: 2.5,
        activeJobs: 1,
      });
    },
  );

  it('refuses a job at the tenant’s limit of jobs at once with a TenantLimitError saying how many run', async () => {
    // Prepare: two jobs running, the limit
    const tenantId = await created(10);
    for (const jobId of ['one', 'two'])
      await ledger.reserve({ tenantId, jobId }, 1, { maxConcurrentJobs: 2 });
    // Act
    const refused = ledger.reserve({ tenantId, jobId: 'three' }, 1, { maxConcurrentJobs: 2 });
    // Assess
    await expect(refused).rejects.toBeInstanceOf(TenantLimitError);
    await expect(refused).rejects.toMatchObject({
      limit: 'maxConcurrentJobs',
      value: 2,
      retryAfterSeconds: 10,
      message:
        'the tenant runs 2 jobs, its limit of jobs at once (maxConcurrentJobs 2); submit again once one has ended',
    });
    expect(await tenants.getTenant(tenantId)).toMatchObject({ availableUsd: 8, activeJobs: 2 });
  });
});
