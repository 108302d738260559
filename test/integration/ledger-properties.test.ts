import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { BudgetExceededError, RequestValidationError } from '#shared/domain/errors';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import type { Tenant } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
import { createTenant } from '#shared/use-cases/tenants';
import { useDynaliteTable } from './dynalite-table';

type Op =
  | { kind: 'reserve'; job: number; usd: number }
  | { kind: 'call'; job: number; maxUsd: number; used: number }
  | { kind: 'settle'; job: number; input: number; output: number }
  | { kind: 'adjust'; deltaUsd: number };

const job = fc.integer({ min: 0, max: 3 });
const money = (min: number, max: number) =>
  fc.integer({ min: Math.round(min * 1e4), max: Math.round(max * 1e4) }).map((x) => x / 1e4);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('reserve' as const), job, usd: money(0.01, 3) }),
  fc.record({
    kind: fc.constant('call' as const),
    job,
    maxUsd: money(0.001, 1.5),
    used: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant('settle' as const),
    job,
    input: fc.integer({ min: 0, max: 3_000_000 }),
    output: fc.integer({ min: 0, max: 500_000 }),
  }),
  fc.record({ kind: fc.constant('adjust' as const), deltaUsd: money(-6, 6) }),
);

const steps = (input: number, output: number): StepRecord[] => [
  {
    stage: 1,
    role: 'sub',
    agentId: 'a',
    step: 1,
    attempt: 1,
    startedAt: '2026-12-01T00:00:00.000Z',
    endedAt: '2026-12-01T00:00:01.000Z',
    durationMs: 1000,
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: 0,
    status: 'SUCCEEDED',
  },
];

/** Budget = available + held + spent, to the micro-dollar; nothing negative. */
function expectBalanced(t: Tenant | undefined) {
  expect(t).toBeDefined();
  const { budgetUsd, availableUsd, reservedUsd, spentUsd } = t!;
  expect(Math.abs(availableUsd + reservedUsd + spentUsd - budgetUsd)).toBeLessThan(5e-6);
  expect(availableUsd).toBeGreaterThanOrEqual(0);
  expect(reservedUsd).toBeGreaterThanOrEqual(-5e-6);
  expect(spentUsd).toBeGreaterThanOrEqual(0);
}

/**
 * The ledger under random sequences of what jobs and operators do to a tenant's money (reserve,
 * authorize and complete model calls, settle, change the budget), on dynalite: the balance adds
 * up after every operation, never goes below zero, and a job is charged once.
 */
describe('the budget ledger under random operation sequences (dynalite)', () => {
  const table = useDynaliteTable();
  let ledger: DynamoBudgetLedger;
  let tenants: DynamoTenantStore;

  beforeAll(() => {
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
    tenants = new DynamoTenantStore(table.doc, table.tableName);
  });

  /** Runs one operation; the refusals the ledger promises are outcomes, anything else fails the test. */
  const apply = async (tenantId: string, op: Op, jobs: { reserved: Set<number>; settled: Set<number> }) => {
    try {
      if (op.kind === 'reserve') {
        await ledger.reserve({ tenantId, jobId: `j${op.job}` }, op.usd);
        jobs.reserved.add(op.job);
      } else if (op.kind === 'call') {
        const ref = { tenantId, jobId: `j${op.job}` };
        const authorized = await ledger.authorizeCall(ref, op.maxUsd);
        await ledger.completeCall(ref, authorized, authorized * op.used);
      } else if (op.kind === 'settle') {
        const ref = { tenantId, jobId: `j${op.job}` };
        const before = await tenants.getTenant(tenantId);
        await ledger.settle(ref, '2026-12-01T00:00:00.000Z', steps(op.input, op.output), KIMI_K25_PRICES);
        const after = await tenants.getTenant(tenantId);
        // Settle once: a job settled before moves no money however different the figures are now
        if (jobs.settled.has(op.job)) expect(after).toEqual(before);
        if (jobs.reserved.has(op.job)) jobs.settled.add(op.job);
      } else await tenants.adjustBudget(tenantId, op.deltaUsd);
      return 'done';
    } catch (error) {
      if (error instanceof BudgetExceededError) return 'refused';
      if (op.kind === 'adjust' && error instanceof RequestValidationError && error.field === 'budgetUsd')
        return 'refused';
      throw error;
    }
  };

  it('keeps budget = available + held + spent, nothing below zero, and charges each job once', async () => {
    await fc.assert(
      fc.asyncProperty(
        money(0, 8),
        fc.array(opArb, { minLength: 1, maxLength: 14 }),
        async (budgetUsd, ops) => {
          // Prepare
          const { tenant } = await createTenant(
            { tenants, maxSubagentsCap: 10 },
            { name: 'prop', budgetUsd, maxSubagents: 2 },
          );
          const jobs = { reserved: new Set<number>(), settled: new Set<number>() };
          // Act / Assess after every operation
          for (const op of ops) {
            const before = await tenants.getTenant(tenant.tenantId);
            const outcome = await apply(tenant.tenantId, op, jobs);
            const after = await tenants.getTenant(tenant.tenantId);
            expectBalanced(after);
            if (outcome === 'refused') expect(after).toEqual(before);
            if (op.kind === 'adjust' && outcome === 'done')
              expect(after!.budgetUsd).toBeCloseTo(before!.budgetUsd + op.deltaUsd, 6);
          }
          // Settling every job lets go of every hold: what is left is spent or available
          for (let j = 0; j < 4; j++)
            await apply(tenant.tenantId, { kind: 'settle', job: j, input: 0, output: 0 }, jobs);
          const end = await tenants.getTenant(tenant.tenantId);
          expectBalanced(end);
          expect(end!.reservedUsd).toBeCloseTo(0, 6);
        },
      ),
      { numRuns: 15 },
    );
  });
});
