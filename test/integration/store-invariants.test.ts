import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { tenantsCommand } from '#cli/commands/tenants';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { RequestValidationError } from '#shared/domain/errors';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import type { Role, StepRecord } from '#shared/domain/types';
import type { AgentRecord, JobRecord } from '#shared/ports/job-store';
import { createTenant } from '#shared/use-cases/tenants';
import { useDynaliteTable } from './dynalite-table';

/** A step of `agentId` in stage 1 lasting `ms`, with the given tokens. */
const step = (role: Role, agentId: string, n: number, attempt: number, ms = 100, input = 0, output = 0) =>
  ({
    stage: 1,
    role,
    agentId,
    step: n,
    attempt,
    startedAt: '2026-12-01T00:00:00.000Z',
    endedAt: '2026-12-01T00:00:01.000Z',
    durationMs: ms,
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: 0,
    status: 'SUCCEEDED',
    model: 'kimi-k2.5',
  }) satisfies StepRecord;

const job = (tenantId: string, jobId: string, task: string): JobRecord => ({
  tenantId,
  jobId,
  status: 'ACCEPTED',
  request: { task, mode: 'parl', maxSubagents: 2, maxOutputTokens: 100 } as JobRecord['request'],
  acceptedAt: '2026-12-01T00:00:00.000Z',
});

/**
 * Invariants of the DynamoDB adapters that one-line mistakes break silently: what a retried agent
 * leaves behind, what a job created twice stores, and how far a budget may be lowered (dynalite).
 */
describe('the job store, tenants and ledger on dynalite', () => {
  const table = useDynaliteTable();
  let store: DynamoJobStore;
  let tenants: DynamoTenantStore;
  let ledger: DynamoBudgetLedger;

  beforeAll(() => {
    store = new DynamoJobStore(table.doc, table.tableName);
    tenants = new DynamoTenantStore(table.doc, table.tableName);
    ledger = new DynamoBudgetLedger(table.doc, table.tableName);
  });

  describe('finishAgent after a retry that took fewer steps', () => {
    it.each<Role>(['sub', 'main'])(
      'keeps only the last attempt of a %s agent, and no other agent loses a step',
      async (role) => {
        // Prepare: attempt 1 of agent a1 took 4 steps and died; agent a10 (a longer id with the same start) took 3
        const ref = { tenantId: 't-stale', jobId: `job-stale-${role}` };
        for (let n = 1; n <= 4; n++) await store.recordStep(ref, step(role, 'a1', n, 1, 1000));
        for (let n = 1; n <= 3; n++) await store.recordStep(ref, step(role, 'a10', n, 1, 10));
        // Act: attempt 2 takes 2 steps and finishes
        for (let n = 1; n <= 2; n++) await store.recordStep(ref, step(role, 'a1', n, 2, 50));
        await store.finishAgent(
          ref,
          { stage: 1, agentId: 'a1', status: 'SUCCEEDED', attempt: 2, stepCount: 2, subtaskIds: ['s1'] },
          role,
        );
        // Assess: a1 has steps 1-2 of attempt 2 and nothing of attempt 1; a10 keeps its 3
        const steps = await store.listSteps(ref);
        const of = (agentId: string) =>
          steps.filter((s) => s.agentId === agentId).map((s) => [s.step, s.attempt, s.durationMs]);
        expect(of('a1')).toEqual([
          [1, 2, 50],
          [2, 2, 50],
        ]);
        expect(of('a10')).toEqual([
          [1, 1, 10],
          [2, 1, 10],
          [3, 1, 10],
        ]);
      },
    );

    it('deletes more stale steps than one batch write takes (25)', async () => {
      // Prepare: a first attempt of 60 steps
      const ref = { tenantId: 't-stale', jobId: 'job-stale-many' };
      await Promise.all(
        Array.from({ length: 60 }, (_, i) => store.recordStep(ref, step('sub', 'a', i + 1, 1))),
      );
      // Act: the retry takes 1 step
      await store.recordStep(ref, step('sub', 'a', 1, 2));
      await store.finishAgent(ref, {
        stage: 1,
        agentId: 'a',
        status: 'SUCCEEDED',
        attempt: 2,
        stepCount: 1,
        subtaskIds: [],
      });
      // Assess
      expect((await store.listSteps(ref)).map((s) => [s.step, s.attempt])).toEqual([[1, 2]]);
    });

    it('stores a first attempt with one write and no query (nothing earlier can be stale)', async () => {
      // Prepare: attempt 1 took 2 steps
      const ref = { tenantId: 't-stale', jobId: 'job-first' };
      for (let n = 1; n <= 2; n++) await store.recordStep(ref, step('sub', 'a', n, 1));
      const before = { ...table.dynamo.requests };
      // Act
      await store.finishAgent(ref, {
        stage: 1,
        agentId: 'a',
        status: 'SUCCEEDED',
        attempt: 1,
        stepCount: 2,
        subtaskIds: ['s1'],
      });
      // Assess: one PutItem, nothing else; the record and both steps are there
      const sent = Object.entries(table.dynamo.requests)
        .map(([op, n]) => [op, n - (before[op] ?? 0)])
        .filter(([, n]) => n !== 0);
      expect(sent).toEqual([['PutItem', 1]]);
      expect((await store.listAgents(ref)).map((a) => [a.agentId, a.attempt, a.stepCount])).toEqual([
        ['a', 1, 2],
      ]);
      expect(await store.listSteps(ref)).toHaveLength(2);
    });
  });

  describe('finishAgent with results not stored yet', () => {
    const record = (fields: Partial<AgentRecord> = {}): AgentRecord => ({
      stage: 1,
      agentId: 'a',
      status: 'SUCCEEDED',
      attempt: 1,
      stepCount: 1,
      subtaskIds: ['s2'],
      ...fields,
    });
    const sentSince = (before: Record<string, number>) =>
      Object.entries(table.dynamo.requests)
        .map(([op, n]) => [op, n - (before[op] ?? 0)])
        .filter(([, n]) => n !== 0);

    it('stores the last result in the agent’s record: one item, one request', async () => {
      // Prepare
      const ref = { tenantId: 't-finish', jobId: 'job-finish' };
      const result = { subtaskId: 's2', agentId: 'a', stage: 1, status: 'ANSWERED' as const, answer: '42' };
      const before = { ...table.dynamo.requests };
      // Act
      await store.finishAgent(ref, record(), 'sub', [result]);
      // Assess: one request of one item; the result and the record (without the result) read back
      expect(sentSince(before)).toEqual([['PutItem', 1]]);
      expect(await store.listResults(ref)).toEqual([result]);
      expect(await store.listAgents(ref)).toEqual([record()]);
    });

    it('stores results too large for the record (over 64 KB) as items of their own, before it', async () => {
      // Prepare: 30 results of 4,000 characters each (about 120 KB)
      const ref = { tenantId: 't-finish', jobId: 'job-finish-many' };
      const results = Array.from({ length: 30 }, (_, i) => ({
        subtaskId: `s${String(i).padStart(2, '0')}`,
        agentId: 'a',
        stage: 1,
        status: 'ANSWERED' as const,
        answer: 'x'.repeat(4000),
      }));
      const before = { ...table.dynamo.requests };
      // Act
      await store.finishAgent(ref, record({ subtaskIds: results.map((r) => r.subtaskId) }), 'sub', results);
      // Assess: 31 items, two BatchWriteItems
      expect(sentSince(before)).toEqual([['BatchWriteItem', 2]]);
      expect(await store.listResults(ref)).toEqual(results);
      expect(await store.listAgents(ref)).toHaveLength(1);
    });

    it('lists each subtask’s latest result: the highest stage, and within a stage the agent’s record', async () => {
      // Prepare
      const ref = { tenantId: 't-finish', jobId: 'job-finish-latest' };
      const result = (subtaskId: string, agentId: string, stage: number, status: 'ANSWERED' | 'FAILED') => ({
        subtaskId,
        agentId,
        stage,
        status,
        ...(status === 'ANSWERED' ? { answer: `${agentId}@${stage}` } : { error: 'deadline' }),
      });
      // Stage 1: agent a carries s1 (failed); agent b stored s3 as an item (a deadline) and carries it answered.
      await store.finishAgent(ref, record({ agentId: 'a', subtaskIds: ['s1'] }), 'sub', [
        result('s1', 'a', 1, 'FAILED'),
      ]);
      await store.putResult(ref, result('s3', 'b', 1, 'FAILED'));
      await store.finishAgent(ref, record({ agentId: 'b', subtaskIds: ['s3'] }), 'sub', [
        result('s3', 'b', 1, 'ANSWERED'),
      ]);
      // Stage 2: s1 again, stored as an item (a batched agent's earlier subtask); s2 only as an item.
      await store.putResult(ref, result('s1', 'c', 2, 'ANSWERED'));
      await store.putResult(ref, result('s2', 'c', 2, 'ANSWERED'));
      // Act
      const listed = await store.listResults(ref);
      // Assess
      expect(listed.map((r) => [r.subtaskId, r.agentId, r.stage, r.status])).toEqual([
        ['s1', 'c', 2, 'ANSWERED'],
        ['s2', 'c', 2, 'ANSWERED'],
        ['s3', 'b', 1, 'ANSWERED'],
      ]);
    });

    it('reads the agents once for the agents and the results asked together', async () => {
      // Prepare
      const ref = { tenantId: 't-finish', jobId: 'job-finish' };
      const before = { ...table.dynamo.requests };
      // Act
      const [agents, results] = await Promise.all([store.listAgents(ref), store.listResults(ref)]);
      const again = await store.listAgents(ref);
      // Assess: one Query of the agents and one of the result items, then one more for the later ask
      expect(agents).toEqual(again);
      expect(results.map((r) => r.subtaskId)).toEqual(['s2']);
      expect(sentSince(before)).toEqual([['Query', 3]]);
    });
  });

  describe('records stored attribute by attribute (before packing) and packed, side by side', () => {
    it('reads steps, agents, results and progress of both, and a retry drops the stale steps of both', async () => {
      // Prepare: agent a stored as before (step 1 of attempt 2, step 2 of attempt 1, its record, a
      // result item); agent b packed through the store (attempt 1, one step, its result carried)
      const ref = { tenantId: 't-packed', jobId: 'job-packed' };
      const pk = 'TENANT#t-packed#JOB#job-packed';
      const old = (sk: string, fields: object) =>
        table.doc.send(new PutCommand({ TableName: table.tableName, Item: { pk, sk, ...fields } }));
      await old('STEP#001#sub#a#00001', step('sub', 'a', 1, 2));
      await old('STEP#001#sub#a#00002', step('sub', 'a', 2, 1));
      const recordA = {
        stage: 1,
        agentId: 'a',
        status: 'FAILED',
        attempt: 1,
        stepCount: 2,
        subtaskIds: ['s1'],
        error: 'x',
      };
      await old('AGENT#001#a', recordA);
      const resultA = { subtaskId: 's1', agentId: 'a', stage: 1, status: 'FAILED' as const, error: 'x' };
      await old('RESULT#s1', resultA);
      const resultB = { subtaskId: 's2', agentId: 'b', stage: 1, status: 'ANSWERED' as const, answer: '7' };
      const recordB = {
        stage: 1,
        agentId: 'b',
        status: 'SUCCEEDED' as const,
        attempt: 1,
        stepCount: 1,
        subtaskIds: ['s2'],
      };
      await store.recordStep(ref, step('sub', 'b', 1, 1));
      await store.finishAgent(ref, recordB, 'sub', [resultB]);
      // Act + Assess: every reader sees both
      expect(await store.listSteps(ref)).toEqual([
        step('sub', 'a', 1, 2),
        step('sub', 'a', 2, 1),
        step('sub', 'b', 1, 1),
      ]);
      expect((await store.listStepsPage(ref, { limit: 2 })).items).toEqual([
        step('sub', 'a', 1, 2),
        step('sub', 'a', 2, 1),
      ]);
      expect(await store.listAgents(ref)).toEqual([recordA, recordB]);
      expect(await store.listResults(ref)).toEqual([resultA, resultB]);
      expect(await store.countProgress(ref)).toEqual({ succeeded: 1, failed: 1, steps: 3 });
      // Act: agent a's attempt 2 ends after one step; its old step 2 (attempt 1) is stale
      await store.finishAgent(ref, { ...recordA, status: 'SUCCEEDED', attempt: 2, stepCount: 1 }, 'sub', []);
      // Assess
      expect((await store.listSteps(ref)).map((s) => [s.agentId, s.step])).toEqual([
        ['a', 1],
        ['b', 1],
      ]);
    });

    it('records a failed agent with the last attempt its steps of either kind name', async () => {
      // Prepare: an old-style step of attempt 3 and a packed one of attempt 2
      const ref = { tenantId: 't-packed', jobId: 'job-packed-failure' };
      const pk = 'TENANT#t-packed#JOB#job-packed-failure';
      await table.doc.send(
        new PutCommand({
          TableName: table.tableName,
          Item: { pk, sk: 'STEP#001#sub#a#00001', ...step('sub', 'a', 1, 3) },
        }),
      );
      await store.recordStep(ref, step('sub', 'a', 2, 2));
      // Act
      const stored = await store.recordAgentFailure(ref, {
        stage: 1,
        agentId: 'a',
        subtaskIds: ['s1'],
        error: 'timeout',
      });
      // Assess
      expect(stored).toBe(true);
      expect(await store.listAgents(ref)).toEqual([
        {
          stage: 1,
          agentId: 'a',
          subtaskIds: ['s1'],
          error: 'timeout',
          status: 'FAILED',
          attempt: 3,
          stepCount: 2,
        },
      ]);
      expect(await store.countProgress(ref)).toEqual({ succeeded: 0, failed: 1, steps: 2 });
    });
  });

  describe('getJobAndSubtasks (a sub-agent starting)', () => {
    it('reads the job and 150 subtasks, in the order asked, leaving out one that does not exist', async () => {
      // Prepare: a job with 150 subtasks (more than one BatchGetItem's 100 keys)
      const created = job('t-read', 'job-read', 'read');
      const subtasks = Array.from({ length: 150 }, (_, i) => ({ id: `s${i}`, prompt: `p${i}` }));
      await store.createJob(created, subtasks);
      const ids = ['s149', 'missing', ...subtasks.slice(0, 149).map((s) => s.id)];
      // Act
      const read = await store.getJobAndSubtasks(created, ids);
      // Assess
      expect(read.job?.request.task).toBe('read');
      expect(read.subtasks.map((s) => s.id)).toEqual(ids.filter((id) => id !== 'missing'));
      expect(read.subtasks[0]).toEqual({ id: 's149', prompt: 'p149' });
    });

    it('reads no job for an unknown one, and no subtasks', async () => {
      // Act
      const read = await store.getJobAndSubtasks({ tenantId: 't-read', jobId: 'nope' }, ['s1']);
      // Assess
      expect(read).toEqual({ job: undefined, subtasks: [] });
    });
  });

  describe('createJob', () => {
    it('stores a job once when two creations of the same id race: one wins, the other is told', async () => {
      // Prepare: two different bodies for one id (a retried submission that lost its idempotency claim)
      const first = job('t-create', 'job-once', 'first');
      const second = { ...job('t-create', 'job-once', 'second'), acceptedAt: '2026-12-01T00:00:05.000Z' };
      // Act
      const created = await Promise.all([store.createJob(first, []), store.createJob(second, [])]);
      // Assess: exactly one creation succeeded, and the stored job is the winner's, listed once
      expect(created.filter(Boolean)).toHaveLength(1);
      const winner = created[0] ? first : second;
      expect((await store.getJob(first))?.request.task).toBe(winner.request.task);
      const listed = await store.listJobs('t-create');
      expect(listed.items.map((j) => [j.jobId, j.acceptedAt])).toEqual([['job-once', winner.acceptedAt]]);
    });

    it('leaves a job that is already running as it is when it is created again', async () => {
      // Prepare
      const ref = job('t-create', 'job-running', 'original');
      expect(await store.createJob(ref, [])).toBe(true);
      await store.updateJob(ref, { status: 'RUNNING', executionId: 'exec-1' });
      // Act
      const again = await store.createJob(job('t-create', 'job-running', 'replayed'), []);
      // Assess
      expect(again).toBe(false);
      expect(await store.getJob(ref)).toMatchObject({
        status: 'RUNNING',
        executionId: 'exec-1',
        request: { task: 'original' },
      });
    });
  });

  describe('a budget changed by the operator (adjustBudget, parl tenants set-budget)', () => {
    /**
     * A tenant with $10 that spent $0.90 on one settled job (1,000,000 uncached input tokens at
     * $0.60/M and 100,000 output tokens at $3/M) and holds $3 for a running one: $6.10 available.
     */
    const spendingTenant = async () => {
      const { tenant } = await createTenant(
        { tenants, maxSubagentsCap: 100 },
        { name: 'spender', budgetUsd: 10, maxSubagents: 5 },
      );
      const done = { tenantId: tenant.tenantId, jobId: 'job-done' };
      await ledger.reserve(done, 2);
      await ledger.settle(
        done,
        '2026-12-01T00:00:00.000Z',
        [step('sub', 'a', 1, 1, 10, 1_000_000, 100_000)],
        KIMI_K25_PRICES,
      );
      await ledger.reserve({ tenantId: tenant.tenantId, jobId: 'job-running' }, 3);
      return tenant.tenantId;
    };

    it('starts from $10 budget, $0.90 spent, $3 held and $6.10 available', async () => {
      const tenantId = await spendingTenant();
      expect(await tenants.getTenant(tenantId)).toMatchObject({
        budgetUsd: 10,
        spentUsd: 0.9,
        reservedUsd: 3,
        availableUsd: 6.1,
      });
    });

    it('moves the balance by the difference when the budget is raised or lowered', async () => {
      // Prepare
      const tenantId = await spendingTenant();
      // Act
      const raised = await tenants.adjustBudget(tenantId, 2.5);
      const lowered = await tenants.adjustBudget(tenantId, -8.6);
      // Assess: 10 + 2.5 = 12.5 (available 8.60); 12.5 − 8.6 = 3.9, exactly what is spent and held
      expect(raised).toMatchObject({ budgetUsd: 12.5, availableUsd: 8.6, spentUsd: 0.9, reservedUsd: 3 });
      expect(lowered).toMatchObject({ budgetUsd: 3.9, availableUsd: 0, spentUsd: 0.9, reservedUsd: 3 });
    });

    it('refuses to lower the budget below what is spent and held, naming budgetUsd, and changes nothing', async () => {
      // Prepare
      const tenantId = await spendingTenant();
      const before = await tenants.getTenant(tenantId);
      // Act: $3.89 is a cent below the $3.90 spent and held
      const refused = tenants.adjustBudget(tenantId, -6.11);
      // Assess
      await expect(refused).rejects.toBeInstanceOf(RequestValidationError);
      await expect(refused).rejects.toMatchObject({
        field: 'budgetUsd',
        message: expect.stringContaining('$3.9'),
      });
      expect(await tenants.getTenant(tenantId)).toEqual(before);
    });

    it('sets an absolute budget through parl tenants set-budget, and refuses one below the spent and held', async () => {
      // Prepare
      const tenantId = await spendingTenant();
      const parl = async (...argv: string[]) => {
        const out: string[] = [];
        const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
          out.push(String(chunk));
          return true;
        });
        try {
          await tenantsCommand([...argv, '--json'], () =>
            Promise.resolve({
              doc: table.doc,
              tableName: table.tableName,
              via: 'files',
              close: () => Promise.resolve(),
            }),
          );
        } finally {
          spy.mockRestore();
        }
        return JSON.parse(out.join('')) as Record<string, unknown>;
      };
      // Act
      const set = await parl('set-budget', tenantId, '--budget-usd', '4');
      const refused = parl('set-budget', tenantId, '--budget-usd', '3.8');
      // Assess: 4 − 3.9 = 0.10 available; 3.80 is refused and the tenant keeps its $4
      expect(set).toMatchObject({ tenantId, budgetUsd: 4, availableUsd: 0.1 });
      await expect(refused).rejects.toThrow(/^budgetUsd: cannot go below/);
      expect(await tenants.getTenant(tenantId)).toMatchObject({ budgetUsd: 4, availableUsd: 0.1 });
    });
  });
});
