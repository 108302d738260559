import { GetCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { BUDGET_SHARDS, shardOf } from '#shared/adapters/dynamo/budget-shards';
import { keys } from '#shared/adapters/dynamo/keys';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { BudgetExceededError, CallsStoppedError } from '#shared/domain/errors';
import { costUsd, KIMI_K25_PRICES, tokenTotals } from '#shared/domain/measures';
import { usd } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import type { CallStop } from '#shared/ports/ledger';
import { createTenant } from '#shared/use-cases/tenants';
import { useDynaliteTable } from './dynalite-table';

const step = (agentId: string, n: number): StepRecord => ({
  stage: 1,
  role: 'sub',
  agentId,
  step: n,
  attempt: 1,
  startedAt: '2026-12-02T00:00:00.000Z',
  endedAt: '2026-12-02T00:00:01.000Z',
  durationMs: 1000,
  inputTokens: 200,
  outputTokens: 50,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
});

/** What one call of {@link step} costs: what a caller reports to completeCall. */
const STEP_COST = costUsd(tokenTotals([step('a', 1)]), KIMI_K25_PRICES);

const tick = (turns: number) => new Promise<void>((r) => setTimeout(r, turns));

/** What one run of concurrent callers, a stop and the closes it led to did. */
interface Run {
  /** Calls authorized, each with whether its authorization began after the stop had returned. */
  authorized: { agentId: string; afterStop: boolean }[];
  /** Who closed the job: the stop (nothing in flight) and/or the last calls. */
  closers: string[];
  /** Calls in flight (authorized, not ended) when someone was told to close the job: all 0. */
  inFlightAtClose: number[];
  refusedAfterStop: number;
}

/**
 * The budget ledger's shards (`BUDGET#nn`) under concurrency, on dynalite: many callers over many
 * shards, a stop in the middle, settlement by whoever closes the job. A shard design that loses a
 * call in flight leaves the job unclosed; one that authorizes on a stopped or closed shard lets a
 * call through after the stop; one that moves money outside the budget record breaks the sums.
 */
describe('the budget ledger spread over shards (dynalite)', () => {
  const table = useDynaliteTable();
  let ledger: DynamoBudgetLedger;
  let tenants: DynamoTenantStore;

  beforeAll(() => {
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
    tenants = new DynamoTenantStore(table.doc, table.tableName);
  });

  const newTenant = async (budgetUsd: number) =>
    (await createTenant({ tenants, maxSubagentsCap: 100 }, { name: 'S', budgetUsd, maxSubagents: 10 }))
      .tenant;

  const budgetRecord = async (ref: JobRef) =>
    (
      await table.doc.send(
        new GetCommand({
          TableName: table.tableName,
          Key: { pk: keys.jobPk(ref), sk: keys.budget },
          ConsistentRead: true,
        }),
      )
    ).Item;

  /**
   * `callers` sub-agents each make calls in a loop until refused; the stop comes once `stopAfter`
   * calls were authorized. Whoever learns the job is to be closed settles it with the steps of
   * every call that completed.
   */
  async function runWithStop(
    ref: JobRef,
    callers: number,
    stopAfter: number,
    delays: number[],
  ): Promise<Run> {
    const run: Run = { authorized: [], closers: [], inFlightAtClose: [], refusedAfterStop: 0 };
    let inFlight = 0;
    const steps: StepRecord[] = [];
    const settle = (who: string) => {
      run.closers.push(who);
      run.inFlightAtClose.push(inFlight);
      return ledger.settle(ref, '2026-12-02T00:00:00.000Z', [...steps], KIMI_K25_PRICES);
    };
    let stopReturned = false;
    let stopping: Promise<void> | undefined;
    const stop = async () => {
      const counted = await ledger.stopCalls(ref, { status: 'ABORTED', reason: 'test' });
      stopReturned = true;
      if (counted === 0) await settle('stop');
    };
    const caller = async (c: number) => {
      const agentId = `agent-${c}`;
      for (let n = 1; ; n++) {
        const afterStop = stopReturned;
        let authorized: number;
        try {
          authorized = await ledger.authorizeCall(ref, 0.001, agentId);
        } catch (error) {
          if (!(error instanceof CallsStoppedError || error instanceof BudgetExceededError)) throw error;
          if (afterStop) run.refusedAfterStop++;
          return;
        }
        run.authorized.push({ agentId, afterStop });
        inFlight++;
        if (run.authorized.length === stopAfter) stopping = stop();
        await tick(delays[(c + n) % delays.length] ?? 0);
        steps.push(step(agentId, n));
        inFlight--; // ended before the ledger hears of it: a close may only come once all did
        const last: CallStop | undefined = await ledger.completeCall(ref, authorized, STEP_COST, agentId);
        if (last) await settle(agentId);
      }
    };
    await Promise.all(Array.from({ length: callers }, (_, c) => caller(c)));
    await stopping;
    return run;
  }

  it('closes every job once across concurrent calls and a stop, authorizes nothing after it, and keeps the sums', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 8, max: 40 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.constantFrom(0, 2, 10, 40, 80), { minLength: 2, maxLength: 8 }),
        async (callers, stopAfter, delays) => {
          // Prepare
          const tenant = await newTenant(1);
          const ref = { tenantId: tenant.tenantId, jobId: `job-${callers}-${stopAfter}-${delays.join('')}` };
          await ledger.reserve(ref, 0.01);
          // Act
          const run = await runWithStop(ref, callers, stopAfter, delays);
          // Assess: nothing authorized once the stop had returned, and every caller was refused
          expect(run.authorized.filter((a) => a.afterStop)).toEqual([]);
          expect(run.authorized.length).toBeGreaterThanOrEqual(Math.min(stopAfter, callers));
          // The job was closed (by the stop or by a last call), and settled once whoever closed it
          expect(run.closers.length).toBeGreaterThanOrEqual(1);
          expect(run.inFlightAtClose.every((n) => n === 0)).toBe(true);
          const budget = await budgetRecord(ref);
          expect(budget?.state).toBe('DONE');
          const charge = budget?.charge as { costUsd: number; calls: number } | undefined;
          const after = await tenants.getTenant(tenant.tenantId);
          expect(after?.reservedUsd).toBeCloseTo(0, 6);
          expect(usd((after?.availableUsd ?? 0) + (after?.spentUsd ?? 0))).toBeCloseTo(1, 6);
          // Every call's cost was covered by what the job held (shares and shard top-ups together)
          expect(after?.spentUsd).toBeCloseTo(charge?.costUsd ?? -1, 6);
          const usage = await ledger.usage(tenant.tenantId, '2026-12');
          expect(usage.jobs).toBe(1);
          // A call after the settlement is refused too
          await expect(ledger.authorizeCall(ref, 0.001, 'late')).rejects.toBeInstanceOf(CallsStoppedError);
        },
      ),
      { numRuns: 12 },
    );
  });

  it.each([
    [
      'while the stop marks the shards',
      (cmd: Record<string, unknown>) => cmd.ExpressionAttributeNames !== undefined,
    ],
    ['between the marks and the count', (cmd: Record<string, unknown>) => cmd.RequestItems !== undefined],
  ])('leaves a job to be closed when its last call ends %s', async (when, isTheMoment) => {
    // Prepare: one call in flight; a client that ends it at the chosen moment of the stop
    const tenant = await newTenant(1);
    const ref = { tenantId: tenant.tenantId, jobId: `job-stop-race-${when.length}` };
    await ledger.reserve(ref, 0.01);
    const authorized = await ledger.authorizeCall(ref, 0.001, 'agent-a');
    let lastCall = 'not ended' as CallStop | undefined | 'not ended';
    const racing = {
      send: async (cmd: { input: Record<string, unknown> }) => {
        if (lastCall === 'not ended' && isTheMoment(cmd.input)) {
          lastCall = await ledger.completeCall(ref, authorized, STEP_COST, 'agent-a');
        }
        return table.doc.send(cmd as never);
      },
    } as unknown as typeof table.doc;
    // Act
    const counted = await new DynamoBudgetLedger(racing, table.tableName).stopCalls(ref, {
      status: 'ABORTED',
    });
    // Assess: the call ended, and the stop or the call was told to close the job
    expect(lastCall).not.toBe('not ended');
    expect(counted === 0 || lastCall !== undefined).toBe(true);
  });

  it('authorizes nothing on any shard once a settlement has frozen the charge', async () => {
    // Prepare: calls on every shard, some still in flight
    const tenant = await newTenant(1);
    const ref = { tenantId: tenant.tenantId, jobId: 'job-settled-mid-calls' };
    await ledger.reserve(ref, 0.05);
    const agents = Array.from({ length: 64 }, (_, i) => `a${i}`);
    expect(new Set(agents.map(shardOf)).size).toBe(BUDGET_SHARDS);
    const inFlight = await Promise.all(agents.map((a) => ledger.authorizeCall(ref, 0.0005, a)));
    // Act: settle while calls race to authorize on every shard
    const racing = Promise.allSettled(agents.map((a) => ledger.authorizeCall(ref, 0.0005, `${a}-2`)));
    await ledger.settle(ref, '2026-12-02T00:00:00.000Z', [step('a0', 1)], KIMI_K25_PRICES);
    const late = await Promise.allSettled(agents.map((a) => ledger.authorizeCall(ref, 0.0005, a)));
    await racing;
    await Promise.all(agents.map((a, i) => ledger.completeCall(ref, inFlight[i] ?? 0, 0.0001, a)));
    // Assess: every call after the settlement was refused; the money moved once
    expect(late.every((r) => r.status === 'rejected' && r.reason instanceof BudgetExceededError)).toBe(true);
    const after = await tenants.getTenant(tenant.tenantId);
    expect(after?.reservedUsd).toBeCloseTo(0, 6);
    expect(usd((after?.availableUsd ?? 0) + (after?.spentUsd ?? 0))).toBeCloseTo(1, 6);
  });

  it('writes only the caller shard for a call its share covers: the budget record stays as it was', async () => {
    // Prepare
    const tenant = await newTenant(1);
    const ref = { tenantId: tenant.tenantId, jobId: 'job-record-untouched' };
    await ledger.reserve(ref, 0.16);
    const before = await budgetRecord(ref);
    // Act: one caller on every shard, each call within a shard's share ($0.005)
    const callers = Array.from({ length: BUDGET_SHARDS }, (_, k) => {
      let n = 0;
      while (shardOf(`agent-${n}`) !== k) n++;
      return `agent-${n}`;
    });
    await Promise.all(
      callers.map(async (agentId) => {
        const a = await ledger.authorizeCall(ref, 0.004, agentId);
        await ledger.completeCall(ref, a, 0.001, agentId);
      }),
    );
    // Assess
    expect(await budgetRecord(ref)).toEqual(before);
  });

  it("pays a call from the other shards' unused shares before refusing it when the balance is spent", async () => {
    // Prepare: the whole balance reserved, so the tenant cannot top anything up
    const tenant = await newTenant(0.16);
    const ref = { tenantId: tenant.tenantId, jobId: 'job-reclaim' };
    await ledger.reserve(ref, 0.16);
    // Act / Assess: $0.1 is more than the record keeps ($0.08) but within the reservation
    expect(await ledger.authorizeCall(ref, 0.1, 'agent-x')).toBe(0.1);
    await expect(ledger.authorizeCall(ref, 0.2, 'agent-x')).rejects.toBeInstanceOf(BudgetExceededError);
    const after = await tenants.getTenant(tenant.tenantId);
    expect(after).toMatchObject({ availableUsd: 0, reservedUsd: 0.16, spentUsd: 0 });
  });

  it('tops up from the tenant only when the reservation is spent, however many callers find the record short at once', async () => {
    // Prepare: $0.16 reserved of $1 ($0.08 on the record, $0.005 a shard); every call needs $0.015,
    // more than a share, so all of them draw on the record, which runs short after 5
    const tenant = await newTenant(1);
    const ref = { tenantId: tenant.tenantId, jobId: 'job-short-at-once' };
    await ledger.reserve(ref, 0.16);
    // Act: 10 calls at once ($0.15 in all, within the reservation), then the same again
    const first = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ledger.authorizeCall(ref, 0.015, `agent-${i}`)),
    );
    const before = await tenants.getTenant(tenant.tenantId);
    const second = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ledger.authorizeCall(ref, 0.015, `agent-${i}`)),
    );
    // Assess: the reservation paid the first ten (nothing held beyond it); the second ten needed
    // top-ups, each of a quarter of the reservation at least, and the sums still hold
    expect(first).toEqual(Array(10).fill(0.015));
    expect(before).toMatchObject({ availableUsd: 0.84, reservedUsd: 0.16 });
    expect(second).toEqual(Array(10).fill(0.015));
    const after = await tenants.getTenant(tenant.tenantId);
    expect(after?.reservedUsd).toBeGreaterThanOrEqual(0.16 + 0.15 - 0.01);
    expect(usd((after?.availableUsd ?? 0) + (after?.reservedUsd ?? 0))).toBeCloseTo(1, 6);
  });
});
