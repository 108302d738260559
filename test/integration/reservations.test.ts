import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStack } from '#local/runtime';
import { DynamoUsageBook } from '#shared/adapters/dynamo/usage-book';
import { loadConfig } from '#shared/config';
import { TenantLimitError } from '#shared/domain/errors';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import { usd } from '#shared/domain/tenant';
import { closeEndedExecution } from '#shared/use-cases/close-ended-execution';
import { sweepReservations } from '#shared/use-cases/sweep-reservations';
import { createTenant } from '#shared/use-cases/tenants';
import { tableAdapters } from '#shared/wiring';
import { useDynaliteTable } from './dynalite-table';
import { subagentStep as step, storeAcceptedJob } from './fixtures';

/** A sweep that sees every reservation as past its grace period. */
const AFTER_GRACE = { graceMs: 0, now: Date.now() + 60_000 };

describe('reservations, their sweeper, the jobs-at-once count and the usage counters (dynalite)', () => {
  const dynalite = useDynaliteTable();
  let table: ReturnType<typeof tableAdapters>;
  let book: DynamoUsageBook;

  beforeAll(() => {
    const { tableName, dynamo } = dynalite;
    table = tableAdapters(loadConfig({ TABLE_NAME: tableName, DYNAMODB_ENDPOINT: dynamo.endpoint }));
    book = new DynamoUsageBook(table.doc, tableName);
  });

  const newTenant = async (budgetUsd: number, maxConcurrentJobs?: number) =>
    (
      await createTenant(
        { tenants: table.tenants, maxSubagentsCap: 100 },
        { name: 'T', budgetUsd, maxSubagents: 10, ...(maxConcurrentJobs ? { maxConcurrentJobs } : {}) },
      )
    ).tenant;
  const sweepDeps = () => ({ ...table, steps: table.store });

  it('returns a stranded reservation (no job was ever stored) and leaves a live job’s alone', async () => {
    // Prepare: one reservation without a job (a crash between reserve and create), one of a running job
    const t = await newTenant(1);
    const stranded = { tenantId: t.tenantId, jobId: 'crashed-before-create' };
    await table.ledger.reserve(stranded, 0.3);
    const live = await storeAcceptedJob(table.store, t.tenantId, { task: 't', subtasks: ['a'] });
    await table.ledger.reserve(live, 0.2);
    await table.store.updateJob(live, { status: 'RUNNING' });
    // Act
    const out = await sweepReservations(sweepDeps(), AFTER_GRACE);
    const again = await sweepReservations(sweepDeps(), AFTER_GRACE);
    // Assess
    expect(out).toMatchObject({ released: 1, settled: 0 });
    expect(out.live).toBeGreaterThanOrEqual(1);
    expect(again.released).toBe(0);
    const after = await table.tenants.getTenant(t.tenantId);
    expect(after).toMatchObject({ availableUsd: 0.8, reservedUsd: 0.2, spentUsd: 0, activeJobs: 1 });
  });

  it('settles the reservation of a job that ended without settling, billing its steps', async () => {
    // Prepare
    const t = await newTenant(1);
    const job = await storeAcceptedJob(table.store, t.tenantId, { task: 't', subtasks: ['a'] });
    await table.ledger.reserve(job, 0.5);
    const steps = [step(1, 10_000, 1_000)];
    for (const s of steps) await table.store.recordStep(job, s);
    await table.store.finishJob(job, { status: 'FAILED', finishedAt: new Date().toISOString(), error: 'x' });
    // Act
    const out = await sweepReservations(sweepDeps(), AFTER_GRACE);
    // Assess
    expect(out.settled).toBeGreaterThanOrEqual(1);
    const after = await table.tenants.getTenant(t.tenantId);
    const cost = usd(
      (10_000 * KIMI_K25_PRICES.inputPerMillion + 1_000 * KIMI_K25_PRICES.outputPerMillion) / 1e6,
    );
    expect(after).toMatchObject({ reservedUsd: 0, spentUsd: cost, activeJobs: 0 });
    expect(usd((after?.availableUsd ?? 0) + (after?.spentUsd ?? 0))).toBe(1);
  });

  it('leaves a reservation younger than the grace period, job or not', async () => {
    // Prepare
    const t = await newTenant(1);
    await table.ledger.reserve({ tenantId: t.tenantId, jobId: 'just-reserved' }, 0.3);
    // Act
    await sweepReservations(sweepDeps(), { graceMs: 600_000 });
    // Assess
    expect(await table.tenants.getTenant(t.tenantId)).toMatchObject({ reservedUsd: 0.3, activeJobs: 1 });
  });

  it('refuses a reservation beyond the tenant’s jobs at once (TenantLimitError) and admits one once a job closed', async () => {
    // Prepare
    const t = await newTenant(5, 2);
    const ref = (jobId: string) => ({ tenantId: t.tenantId, jobId });
    await table.ledger.reserve(ref('j1'), 0.1, { maxConcurrentJobs: 2 });
    await table.ledger.reserve(ref('j2'), 0.1, { maxConcurrentJobs: 2 });
    // Act
    const third = table.ledger.reserve(ref('j3'), 0.1, { maxConcurrentJobs: 2 });
    // Assess
    await expect(third).rejects.toBeInstanceOf(TenantLimitError);
    await expect(third).rejects.toMatchObject({ limit: 'maxConcurrentJobs', value: 2 });
    expect(await table.tenants.getTenant(t.tenantId)).toMatchObject({ activeJobs: 2, reservedUsd: 0.2 });
    // Act: one job closes
    await table.ledger.settle(ref('j1'), new Date().toISOString(), [], KIMI_K25_PRICES);
    await table.ledger.settle(ref('j1'), new Date().toISOString(), [], KIMI_K25_PRICES);
    await table.ledger.reserve(ref('j3'), 0.1, { maxConcurrentJobs: 2 });
    // Assess
    expect(await table.tenants.getTenant(t.tenantId)).toMatchObject({ activeJobs: 2, reservedUsd: 0.2 });
  });

  it('keeps the monthly usage counters equal to the sum of the usage records, however settlements repeat', async () => {
    const period = new Date().toISOString().slice(0, 7);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            steps: fc.array(fc.tuple(fc.nat(50_000), fc.nat(5_000)), { maxLength: 4 }),
            repeats: fc.integer({ min: 1, max: 3 }),
            reserved: fc.boolean(),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (jobs) => {
          // Prepare
          const t = await newTenant(100);
          // Act: settle each job, some more than once and concurrently, some without a reservation
          await Promise.all(
            jobs.map(async (job, i) => {
              const ref = { tenantId: t.tenantId, jobId: `job-${i}` };
              if (job.reserved) await table.ledger.reserve(ref, 1);
              const steps = job.steps.map(([input, output], n) => step(n + 1, input, output));
              await Promise.all(
                Array.from({ length: job.repeats }, () =>
                  table.ledger.settle(ref, new Date().toISOString(), steps, KIMI_K25_PRICES),
                ),
              );
            }),
          );
          // Assess
          const fromCounters = await table.ledger.usage(t.tenantId, period);
          const fromRecords = await book.sumRecords(t.tenantId, period);
          expect(fromCounters).toEqual(fromRecords);
          expect(fromCounters.jobs).toBe(jobs.length);
        },
      ),
      { seed: 14, numRuns: 8 },
    );
  }, 60_000);

  it('settles a closing job before its terminal state is stored: whoever sees it ended sees no money held', async () => {
    // Prepare: a running job with a reservation; the ledger notes the job's status when settling
    const t = await newTenant(1);
    const job = await storeAcceptedJob(table.store, t.tenantId, { task: 't', subtasks: ['a'] });
    await table.ledger.reserve(job, 0.4);
    await table.store.updateJob(job, { status: 'RUNNING' });
    let statusAtSettle: string | undefined;
    const ledger = Object.create(table.ledger) as typeof table.ledger;
    ledger.settle = async (...args) => {
      statusAtSettle = (await table.store.getJob(job))?.status;
      return table.ledger.settle(...args);
    };
    // Act
    await closeEndedExecution(
      { store: table.store, steps: table.store, ledger },
      { ...job, status: 'FAILED' },
    );
    // Assess
    expect(statusAtSettle).toBe('RUNNING');
    expect((await table.store.getJob(job))?.status).toBe('FAILED');
    expect(await table.tenants.getTenant(t.tenantId)).toMatchObject({ reservedUsd: 0, availableUsd: 1 });
  });
});

describe('the sweeper function of the embedded stack (as parl serve runs it)', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await EmbeddedStack.boot({ env: { PARL_RESERVATION_GRACE_SECONDS: '1' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('releases a reservation left without a job once the grace period has passed', async () => {
    // Prepare
    const { tenant } = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 100 },
      { name: 'Swept', budgetUsd: 1, maxSubagents: 10 },
    );
    await stack.ledger.reserve({ tenantId: tenant.tenantId, jobId: 'stranded' }, 0.25);
    await new Promise((r) => setTimeout(r, 1100));
    // Act
    const after = (await stack.invoke('sweeper', {})) as { released: number };
    // Assess
    expect(after.released).toBe(1);
    expect(await stack.tenants.getTenant(tenant.tenantId)).toMatchObject({ availableUsd: 1, reservedUsd: 0 });
  });
});
