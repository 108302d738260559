import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { NotFoundError, RequestValidationError, StateConflictError } from '#shared/domain/errors';
import type { Tenant } from '#shared/domain/tenant';
import { allItems } from '#shared/ports/paging';
import { useDynaliteTable } from './dynalite-table';

/** A fresh ACTIVE tenant with `budgetUsd` all available, created at `createdAt`. */
const tenantOf = (budgetUsd = 10, createdAt = '2026-12-01T00:00:00.000Z'): Tenant => ({
  tenantId: `t-${randomUUID()}`,
  name: 'store test',
  status: 'ACTIVE',
  createdAt,
  keyHash: 'hash-0',
  budgetUsd,
  availableUsd: budgetUsd,
  reservedUsd: 0,
  spentUsd: 0,
  maxSubagents: 5,
});

/** A cursor as the listings encode one (base64url JSON of the last key). */
const cursorOf = (key: Record<string, string>) => Buffer.from(JSON.stringify(key)).toString('base64url');

/** The tenant store's listing, budget, settings and key changes, on dynalite. */
describe('DynamoTenantStore on dynalite', () => {
  const table = useDynaliteTable();
  let tenants: DynamoTenantStore;
  let ledger: DynamoBudgetLedger;
  let jobs: DynamoJobStore;

  beforeAll(() => {
    tenants = new DynamoTenantStore(table.doc, table.tableName);
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
    jobs = new DynamoJobStore(table.doc, table.tableName);
  });

  /** Creates `tenant` and returns it. */
  const created = async (tenant: Tenant) => {
    await tenants.createTenant(tenant);
    return tenant;
  };

  describe('getTenant', () => {
    it('reads a tenant back as created, with no key at all for the settings it was created without', async () => {
      // Prepare: no weights, annealJobs, requestsPerSecond, maxConcurrentJobs or activeJobs
      const tenant = await created(tenantOf());
      // Act
      const read = await tenants.getTenant(tenant.tenantId);
      // Assess: toStrictEqual tells a key holding undefined from a missing one
      expect(read).toStrictEqual(tenant);
    });
  });

  describe('listTenants', () => {
    it('lists every tenant oldest first, page by page, each page no longer than its limit', async () => {
      // Prepare: three tenants created in the year 2001, before any other of this file
      const mine = [
        await created(tenantOf(1, '2001-01-03T00:00:00.000Z')),
        await created(tenantOf(2, '2001-01-01T00:00:00.000Z')),
        await created(tenantOf(3, '2001-01-02T00:00:00.000Z')),
      ];
      const ids = new Set(mine.map((t) => t.tenantId));
      const pageLengths: number[] = [];
      const listed: Tenant[] = [];
      // Act
      for await (const tenant of allItems(async (cursor) => {
        const page = await tenants.listTenants({ limit: 2, ...(cursor ? { cursor } : {}) });
        pageLengths.push(page.items.length);
        return page;
      })) {
        listed.push(tenant);
      }
      // Assess: mine in order of creation, read back whole; no page is longer than 2, and the first is full
      expect(listed.filter((t) => ids.has(t.tenantId))).toEqual([mine[1], mine[2], mine[0]]);
      expect(pageLengths.length).toBeGreaterThanOrEqual(2);
      expect(pageLengths[0]).toBe(2);
      expect(Math.max(...pageLengths)).toBeLessThanOrEqual(2);
    });

    it('returns the cursor of the next page, and none on a page that reaches the end', async () => {
      // Prepare
      await created(tenantOf());
      await created(tenantOf());
      // Act
      const first = await tenants.listTenants({ limit: 1 });
      const whole = await tenants.listTenants({ limit: 1000 });
      // Assess
      expect(first.items).toHaveLength(1);
      expect(first.nextCursor).toEqual(expect.any(String));
      expect(whole.items.length).toBeGreaterThanOrEqual(2);
      expect(whole).not.toHaveProperty('nextCursor');
    });

    it('continues after the cursor: the second page starts with the tenant after the first page', async () => {
      // Prepare: two tenants created before any other, in the year 2000
      const a = await created(tenantOf(1, '2000-01-01T00:00:00.000Z'));
      const b = await created(tenantOf(1, '2000-01-02T00:00:00.000Z'));
      // Act
      const first = await tenants.listTenants({ limit: 1 });
      const second = await tenants.listTenants({ limit: 1, cursor: first.nextCursor });
      // Assess
      expect(first.items.map((t) => t.tenantId)).toEqual([a.tenantId]);
      expect(second.items.map((t) => t.tenantId)).toEqual([b.tenantId]);
    });

    it.each([
      ['garbled text', 'not a cursor'],
      ['a cursor of a tenant’s job listing', 'JOBS-OF-A-TENANT'],
      ['a cursor on the tenants partition that is not a tenant item', 'TENANTS-NOT-TENANT'],
    ])('refuses %s as a RequestValidationError on cursor', async (_, which) => {
      // Prepare
      const cursor =
        which === 'JOBS-OF-A-TENANT'
          ? cursorOf({ pk: 'TENANT#acme#JOB#j1', sk: 'TENANT', gsi1pk: 'TENANT#acme', gsi1sk: 'JOB#2026#j1' })
          : which === 'TENANTS-NOT-TENANT'
            ? cursorOf({ pk: 'TENANT#acme#JOB#j1', sk: 'JOB', gsi1pk: 'TENANTS', gsi1sk: 'TENANT#2026#acme' })
            : which;
      // Act
      const listing = tenants.listTenants({ cursor });
      // Assess
      await expect(listing).rejects.toBeInstanceOf(RequestValidationError);
      await expect(listing).rejects.toMatchObject({
        field: 'cursor',
        reason: 'is not a cursor this listing returned',
        message: 'cursor: is not a cursor this listing returned',
      });
    });

    it('refuses a job listing’s own cursor', async () => {
      // Prepare: a real cursor of a tenant's job listing
      const tenantId = `t-${randomUUID()}`;
      for (const n of [1, 2]) {
        await jobs.createJob(
          {
            tenantId,
            jobId: `job-${n}`,
            status: 'ACCEPTED',
            request: { task: 'x', workload: 'generic', mode: 'parl' },
            acceptedAt: `2026-01-0${n}T00:00:00.000Z`,
          },
          [],
        );
      }
      const { nextCursor } = await jobs.listJobs(tenantId, { limit: 1 });
      // Act
      const listing = tenants.listTenants({ cursor: nextCursor });
      // Assess
      expect(nextCursor).toEqual(expect.any(String));
      await expect(listing).rejects.toMatchObject({ name: 'RequestValidationError', field: 'cursor' });
    });
  });

  describe('adjustBudget', () => {
    it('raises the budget and what is available by the same amount', async () => {
      // Prepare
      const tenant = await created(tenantOf(10));
      // Act
      const raised = await tenants.adjustBudget(tenant.tenantId, 2.25);
      // Assess
      expect(raised).toEqual({ ...tenant, budgetUsd: 12.25, availableUsd: 12.25 });
      expect(await tenants.getTenant(tenant.tenantId)).toEqual(raised);
    });

    it('lowers the budget down to exactly what is held by a running job', async () => {
      // Prepare: $4 of $10 held
      const tenant = await created(tenantOf(10));
      await ledger.reserve({ tenantId: tenant.tenantId, jobId: 'job-running' }, 4);
      // Act
      const lowered = await tenants.adjustBudget(tenant.tenantId, -6);
      // Assess
      expect(lowered).toMatchObject({ budgetUsd: 4, availableUsd: 0, reservedUsd: 4 });
    });

    it('refuses to go a cent below what is held, naming budgetUsd and the amount held, and changes nothing', async () => {
      // Prepare: $4 of $10 held
      const tenant = await created(tenantOf(10));
      await ledger.reserve({ tenantId: tenant.tenantId, jobId: 'job-running' }, 4);
      const before = await tenants.getTenant(tenant.tenantId);
      // Act
      const refused = tenants.adjustBudget(tenant.tenantId, -6.01);
      // Assess
      await expect(refused).rejects.toBeInstanceOf(RequestValidationError);
      await expect(refused).rejects.toMatchObject({
        field: 'budgetUsd',
        reason: 'cannot go below what is spent or held by running jobs: $4',
      });
      expect(await tenants.getTenant(tenant.tenantId)).toEqual(before);
    });

    it('refuses a tenant that does not exist with a NotFoundError', async () => {
      // Act
      const adjusted = tenants.adjustBudget(`t-${randomUUID()}`, 5);
      // Assess
      await expect(adjusted).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('updateSettings', () => {
    it('sets the given settings, leaves the others and returns the tenant as stored', async () => {
      // Prepare
      const tenant = await created(tenantOf());
      // Act
      const updated = await tenants.updateSettings(tenant.tenantId, {
        maxSubagents: 9,
        requestsPerSecond: 3,
      });
      // Assess
      expect(updated).toEqual({ ...tenant, maxSubagents: 9, requestsPerSecond: 3 });
      expect(await tenants.getTenant(tenant.tenantId)).toEqual(updated);
    });

    it('leaves a setting given as undefined as it was', async () => {
      // Prepare
      const tenant = await created({ ...tenantOf(), requestsPerSecond: 3 });
      // Act
      const updated = await tenants.updateSettings(tenant.tenantId, {
        maxSubagents: 7,
        requestsPerSecond: undefined,
      });
      // Assess
      expect(updated).toEqual({ ...tenant, maxSubagents: 7, requestsPerSecond: 3 });
      expect(await tenants.getTenant(tenant.tenantId)).toEqual(updated);
    });

    it('returns the tenant unchanged when no setting is given', async () => {
      // Prepare
      const tenant = await created(tenantOf());
      // Act
      const updated = await tenants.updateSettings(tenant.tenantId, {});
      // Assess
      expect(updated).toEqual(tenant);
      expect(await tenants.getTenant(tenant.tenantId)).toEqual(tenant);
    });

    it('refuses a tenant that does not exist with a NotFoundError, creating nothing', async () => {
      // Prepare
      const tenantId = `t-${randomUUID()}`;
      // Act
      const updated = tenants.updateSettings(tenantId, { maxSubagents: 9 });
      // Assess
      await expect(updated).rejects.toBeInstanceOf(NotFoundError);
      expect(await tenants.getTenant(tenantId)).toBeUndefined();
    });
  });

  describe('revokeKey and rotateKey', () => {
    it('revokes a tenant and nothing else changes', async () => {
      // Prepare
      const tenant = await created(tenantOf());
      // Act
      await tenants.revokeKey(tenant.tenantId);
      // Assess
      expect(await tenants.getTenant(tenant.tenantId)).toEqual({ ...tenant, status: 'REVOKED' });
    });

    it('refuses to revoke a tenant that does not exist with a NotFoundError', async () => {
      // Act
      const revoked = tenants.revokeKey(`t-${randomUUID()}`);
      // Assess
      await expect(revoked).rejects.toBeInstanceOf(NotFoundError);
    });

    it('rotates the key of an active tenant, which stays active', async () => {
      // Prepare
      const tenant = await created(tenantOf());
      // Act
      await tenants.rotateKey(tenant.tenantId, 'hash-1');
      // Assess
      expect(await tenants.getTenant(tenant.tenantId)).toEqual({ ...tenant, keyHash: 'hash-1' });
    });

    it('refuses to rotate the key of a revoked tenant with a StateConflictError naming the way back', async () => {
      // Prepare
      const tenant = await created(tenantOf());
      await tenants.revokeKey(tenant.tenantId);
      // Act
      const rotated = tenants.rotateKey(tenant.tenantId, 'hash-1');
      // Assess: the key and the status are as they were
      await expect(rotated).rejects.toBeInstanceOf(StateConflictError);
      await expect(rotated).rejects.toThrow(
        `tenant ${tenant.tenantId} is revoked: rotating its key would not re-activate it (parl tenants reactivate ${tenant.tenantId} does)`,
      );
      expect(await tenants.getTenant(tenant.tenantId)).toEqual({ ...tenant, status: 'REVOKED' });
    });

    it('reactivates a revoked tenant with a new key', async () => {
      // Prepare
      const tenant = await created(tenantOf());
      await tenants.revokeKey(tenant.tenantId);
      // Act
      await tenants.rotateKey(tenant.tenantId, 'hash-2', { reactivate: true });
      // Assess
      expect(await tenants.getTenant(tenant.tenantId)).toEqual({ ...tenant, keyHash: 'hash-2' });
    });

    it('refuses to rotate the key of a tenant that does not exist with a NotFoundError, creating nothing', async () => {
      // Prepare
      const tenantId = `t-${randomUUID()}`;
      // Act
      const rotated = tenants.rotateKey(tenantId, 'hash-1');
      const reactivated = tenants.rotateKey(tenantId, 'hash-1', { reactivate: true });
      // Assess
      await expect(rotated).rejects.toBeInstanceOf(NotFoundError);
      await expect(reactivated).rejects.toBeInstanceOf(NotFoundError);
      expect(await tenants.getTenant(tenantId)).toBeUndefined();
    });
  });
});
