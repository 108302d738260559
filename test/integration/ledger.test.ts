import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { BudgetExceededError } from '#shared/domain/errors';
import { costUsd, KIMI_K25_PRICES, tokenTotals } from '#shared/domain/measures';
import { usd } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
import type { ChatRequest, LlmClient } from '#shared/ports/llm';
import { modelStep } from '#shared/use-cases/model-step';
import { createTenant } from '#shared/use-cases/tenants';
import { useDynaliteTable } from './dynalite-table';
import { subagentStep as step } from './fixtures';

describe('the budget ledger on DynamoDB (dynalite)', () => {
  const table = useDynaliteTable();
  let ledger: DynamoBudgetLedger;
  let tenants: DynamoTenantStore;

  beforeAll(() => {
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
    tenants = new DynamoTenantStore(table.doc, table.tableName);
  });

  const newTenant = async (budgetUsd: number) =>
    (await createTenant({ tenants, maxSubagentsCap: 100 }, { name: 'T', budgetUsd, maxSubagents: 10 }))
      .tenant;

  it('releases a reservation whole, once, with no usage record (the compensation for an unstored job)', async () => {
    // Prepare
    const t = await newTenant(1);
    const ref = { tenantId: t.tenantId, jobId: 'never-stored' };
    await ledger.reserve(ref, 0.4);
    // Act
    await Promise.all([ledger.release(ref), ledger.release(ref)]);
    await ledger.release(ref);
    // Assess
    const after = await tenants.getTenant(t.tenantId);
    expect(after).toMatchObject({ availableUsd: 1, reservedUsd: 0, spentUsd: 0 });
    const usage = await ledger.usage(t.tenantId, new Date().toISOString().slice(0, 7));
    expect(usage.jobs).toBe(0);
  });

  it('settles a job once however often and however concurrently settlement runs', async () => {
    // Prepare
    const tenant = await newTenant(1);
    const ref = { tenantId: tenant.tenantId, jobId: 'job-settle' };
    await ledger.reserve(ref, 0.2);
    await ledger.reserve(ref, 0.2); // a duplicate submission holds nothing more
    const steps = [step(1, 10_000, 2_000), step(2, 20_000, 1_000)];
    const cost = usd(costUsd(tokenTotals(steps), KIMI_K25_PRICES));
    // Act
    await Promise.all(
      Array.from({ length: 5 }, () => ledger.settle(ref, '2026-11-29T00:00:00.000Z', steps, KIMI_K25_PRICES)),
    );
    await ledger.settle(ref, '2026-11-29T00:00:00.000Z', steps, KIMI_K25_PRICES);
    // Assess
    const after = await tenants.getTenant(tenant.tenantId);
    expect(after).toMatchObject({ reservedUsd: 0, spentUsd: cost, availableUsd: usd(1 - cost) });
    const usage = await ledger.usage(tenant.tenantId, '2026-11');
    expect(usage).toMatchObject({
      jobs: 1,
      calls: 2,
      inputTokens: 30_000,
      outputTokens: 3_000,
      costUsd: cost,
    });
  });

  it('tops a short reservation up from the balance and refuses a call the balance cannot cover', async () => {
    // Prepare: a tiny budget and a tiny reservation
    const tenant = await newTenant(0.01);
    const ref = { tenantId: tenant.tenantId, jobId: 'job-draw' };
    await ledger.reserve(ref, 0.002);
    // Act / Assess: a call of up to $0.005 needs a top-up, which the balance covers
    expect(await ledger.authorizeCall(ref, 0.005)).toBe(0.005);
    const mid = await tenants.getTenant(tenant.tenantId);
    expect(mid?.availableUsd).toBeCloseTo(0.01 - 0.002 - 0.005, 6);
    // A call of up to $0.02 cannot be covered
    await expect(ledger.authorizeCall(ref, 0.02)).rejects.toBeInstanceOf(BudgetExceededError);
    const end = await tenants.getTenant(tenant.tenantId);
    expect(end?.availableUsd).toBeGreaterThanOrEqual(0);
  });

  it('stops a model call before the provider sees it when the budget cannot cover it', async () => {
    // Prepare
    const tenant = await newTenant(0.0001);
    const ref = { tenantId: tenant.tenantId, jobId: 'job-blocked' };
    await ledger.reserve(ref, 0.0001);
    let calls = 0;
    const llm: LlmClient = {
      model: 'kimi-k2.5',
      chat: (_r: ChatRequest) => {
        calls++;
        return Promise.reject(new Error('must not be called'));
      },
    };
    const recorded: StepRecord[] = [];
    const steps = {
      recordStep: (_ref: unknown, s: StepRecord) => {
        recorded.push(s);
        return Promise.resolve();
      },
    } as never;
    // Act
    const call = modelStep(
      { llm, steps, ledger },
      { ref, stage: 1, role: 'sub', agentId: 'a1', step: 1, attempt: 1 },
      { messages: [{ role: 'user', content: 'x'.repeat(4000) }], maxTokens: 1000 },
    );
    // Assess
    await expect(call).rejects.toThrow(/budget cannot cover the next model call/);
    expect(calls).toBe(0);
    expect(recorded).toHaveLength(0);
  });
});
