import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { costUsd, KIMI_K25_PRICES, tokenTotals } from '#shared/domain/measures';
import { usd } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
import { createTenant } from '#shared/use-cases/tenants';
import { apiCaller } from './api-client';

describe('cancel with model calls in flight (issue 14, defect 2)', () => {
  let stack: EmbeddedStack;
  let api: LocalApi;
  const call = apiCaller(() => api);

  beforeAll(async () => {
    // Slow model calls, so calls are in flight when the cancel comes.
    stack = await EmbeddedStack.boot({ simulator: { seed: 5, latencyScale: 4 }, sfnEndpoint: true });
    api = await startLocalApi(stack);
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  const allSteps = async (key: string, jobId: string): Promise<StepRecord[]> => {
    const steps: StepRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(
        'GET',
        `/v1/jobs/${jobId}/steps?limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
        {
          key,
        },
      );
      steps.push(...(page.body.items as StepRecord[]));
      cursor = page.body.nextCursor as string | undefined;
    } while (cursor);
    return steps;
  };

  it('starts no model call after the cancel, settles after the last call, and bills every call made', async () => {
    // Prepare: 40 subtasks on 10 sub-agents, cancelled once the first calls are under way
    const { apiKey: key } = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Cancel', budgetUsd: 5, maxSubagents: 10 },
    );
    const subtasks = Array.from({ length: 40 }, (_, i) => `What is ${i} + ${i}?`);
    const posted = await call('POST', '/v1/jobs', {
      key,
      body: { task: 'Sums', subtasks, maxSubagents: 10 },
    });
    expect(posted.status).toBe(202);
    const jobId = posted.body.jobId as string;
    for (
      let i = 0;
      i < 600 && (await allSteps(key, jobId)).filter((s) => s.role === 'sub').length === 0;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // Act
    const cancelled = await call('POST', `/v1/jobs/${jobId}/cancel`, { key });
    const answeredAt = new Date().toISOString();
    let job = cancelled.body;
    for (let i = 0; i < 600 && job.status !== 'CANCELLED'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = (await call('GET', `/v1/jobs/${jobId}`, { key })).body;
    }
    // Calls that were in flight would record their steps now: give them the time.
    await new Promise((r) => setTimeout(r, 3000));
    // Assess
    expect(cancelled.status).toBe(200);
    expect(job.status).toBe('CANCELLED');
    const steps = await allSteps(key, jobId);
    expect(steps.filter((s) => s.role === 'sub').length).toBeGreaterThan(0);
    expect(steps.filter((s) => s.startedAt > answeredAt)).toEqual([]);
    const totals = tokenTotals(steps);
    const usage = (await call('GET', '/v1/usage', { key })).body as {
      calls: number;
      costUsd: number;
      budget: { reservedUsd: number; spentUsd: number; availableUsd: number; budgetUsd: number };
    };
    expect(usage.calls).toBe(steps.length);
    expect(usage.costUsd).toBe(usd(costUsd(totals, KIMI_K25_PRICES)));
    expect((job.metrics as { tokens: unknown }).tokens).toEqual(totals);
    expect(usage.budget.reservedUsd).toBe(0);
    expect(usage.budget.spentUsd).toBe(usage.costUsd);
    expect(usd(usage.budget.availableUsd + usage.budget.spentUsd)).toBe(usage.budget.budgetUsd);
  }, 180_000);
});
