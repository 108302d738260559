import { beforeAll, describe, expect, it, vi } from 'vitest';
import { tenantsCommand } from '#cli/commands/tenants';
import { UsageError } from '#cli/flags';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { useDynaliteTable } from './dynalite-table';

/** `parl tenants` settings (cap, λ annealing) against dynalite, in-process. */
describe('tenant settings through parl tenants', () => {
  const table = useDynaliteTable();
  let store: DynamoTenantStore;
  let opened = 0;

  const parl = async (...argv: string[]): Promise<unknown> => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      await tenantsCommand([...argv, '--json'], () => {
        opened += 1;
        return Promise.resolve({
          doc: table.doc,
          tableName: table.tableName,
          via: 'files',
          close: () => Promise.resolve(),
        });
      });
    } finally {
      spy.mockRestore();
    }
    return JSON.parse(out.join(''));
  };

  beforeAll(() => {
    store = new DynamoTenantStore(table.doc, table.tableName);
  });

  it('creates a tenant with its own annealing and changes one setting without touching the rest', async () => {
    // Act
    const { tenantId } = (await parl(
      'create',
      '--name',
      'acme',
      '--budget-usd',
      '5',
      '--anneal-jobs',
      '20',
    )) as {
      tenantId: string;
    };
    const created = await store.getTenant(tenantId);
    const off = (await parl('set-anneal', tenantId, '--anneal-jobs', '0')) as Record<string, unknown>;
    const capped = (await parl('set-max-subagents', tenantId, '--max-subagents', '7')) as Record<
      string,
      unknown
    >;
    const after = await store.getTenant(tenantId);
    // Assess
    expect(created?.annealJobs).toBe(20);
    expect(off).toMatchObject({ tenantId, annealJobs: 0, maxSubagents: created?.maxSubagents });
    expect(capped).toMatchObject({ tenantId, annealJobs: 0, maxSubagents: 7 });
    expect(after).toEqual({ ...created, annealJobs: 0, maxSubagents: 7 });
    expect(capped).not.toHaveProperty('keyHash');
    const weighted = (await parl('set-weights', tenantId, '--weights', '0.2,0.2,0.6')) as Record<
      string,
      unknown
    >;
    expect(weighted).toMatchObject({
      annealJobs: 0,
      maxSubagents: 7,
      weights: { parallel: 0.2, finish: 0.2, perf: 0.6 },
    });
    expect((await store.getTenant(tenantId))?.weights).toEqual({ parallel: 0.2, finish: 0.2, perf: 0.6 });
  });

  it('refuses a missing or bad --anneal-jobs before opening anything', async () => {
    const before = opened;
    await expect(parl('set-anneal', 't-000000000000')).rejects.toThrow(UsageError);
    await expect(parl('set-anneal', 't-000000000000', '--anneal-jobs=-1')).rejects.toThrow(
      /--anneal-jobs must be an integer from 0/,
    );
    await expect(parl('set-anneal', 't-000000000000', '--anneal-jobs', '2')).rejects.toThrow(
      /t-000000000000/,
    );
    await expect(parl('set-weights', 't-000000000000', '--weights', '0.5,0.5,0.5')).rejects.toThrow(
      /--weights must be three numbers from 0 to 1 .* that sum to 1, got "0.5,0.5,0.5"/,
    );
    await expect(parl('set-weights', 't-000000000000', '--weights', '0.5,0.5')).rejects.toThrow(
      /--weights needs three numbers/,
    );
    await expect(parl('set-weights', 't-000000000000')).rejects.toThrow(/needs --weights/);
    expect(opened).toBe(before + 1);
  });

  it('sets a tenant’s request and jobs-at-once limits, one without the other, and refuses bad ones', async () => {
    // Prepare
    const { tenantId } = (await parl('create', '--name', 'Limits', '--budget-usd', '1')) as {
      tenantId: string;
    };
    // Act
    const one = (await parl('set-limits', tenantId, '--requests-per-second', '7')) as Record<string, unknown>;
    const both = (await parl('set-limits', tenantId, '--max-concurrent-jobs', '3')) as Record<
      string,
      unknown
    >;
    // Assess
    expect(one).toMatchObject({ requestsPerSecond: 7 });
    expect(one).not.toHaveProperty('maxConcurrentJobs');
    expect(both).toMatchObject({ requestsPerSecond: 7, maxConcurrentJobs: 3 });
    expect(await store.getTenant(tenantId)).toMatchObject({ requestsPerSecond: 7, maxConcurrentJobs: 3 });
    await expect(parl('set-limits', tenantId)).rejects.toThrow(/needs --requests-per-second/);
    await expect(parl('set-limits', tenantId, '--requests-per-second', '0')).rejects.toThrow(
      /--requests-per-second must be an integer from 1 to 10000/,
    );
  });
});
