import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { KIMI_K25_PRICES } from '#shared/domain/measures';
import { estimateJobCostUsd, usd } from '#shared/domain/tenant';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { createTenant } from '#shared/use-cases/tenants';

/** A JSON answer read loosely, as a test reads it. */
// biome-ignore lint/suspicious/noExplicitAny: test helper reading arbitrary JSON answers
type Json = Record<string, any>;

describe('budgets over the REST API', () => {
  let stack: EmbeddedStack;
  let api: LocalApi;

  const post = async (key: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const get = async (key: string, path: string) => {
    const res = await fetch(`${api.url}${path}`, { headers: { 'x-api-key': key } });
    return { status: res.status, body: (await res.json()) as Json };
  };

  /** The job once it has ended (polled through the API, for at most a minute). */
  const untilEnded = async (key: string, jobId: string): Promise<Json> => {
    for (let i = 0; i < 600; i++) {
      const { body } = await get(key, `/v1/jobs/${jobId}`);
      if (!['ACCEPTED', 'RUNNING'].includes(body.status)) return body;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId} did not end within a minute of its cancel`);
  };

  beforeAll(async () => {
    // Slow model calls, so no job finishes (and releases money) while the race runs.
    stack = await EmbeddedStack.boot({ simulator: { seed: 9, latencyScale: 5 }, sfnEndpoint: true });
    api = await startLocalApi(stack);
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  it('lets 50 concurrent submissions take only what the budget covers (about 10), never below zero', async () => {
    // Prepare: a budget that covers 10.5 reservations of this job
    const request = bmaDemoRequest(5, 3);
    const estimate = estimateJobCostUsd({ subtasks: 5, mode: 'parl', stepBudget: 6 }, KIMI_K25_PRICES);
    const budget = usd(estimate * 10.5);
    const { tenant, apiKey } = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      // 50 submissions, 10 cancels and the polls fall in a second or two: the request rate (default
      // 50 a second) is not what this test is about, and it refused a cancel with 429 once.
      { name: 'Racer', budgetUsd: budget, maxSubagents: 10, requestsPerSecond: 1_000 },
    );
    let lowest = budget;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = await stack.tenants.getTenant(tenant.tenantId);
        lowest = Math.min(lowest, t?.availableUsd ?? Number.NEGATIVE_INFINITY);
      }
    })();
    // Act
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(apiKey, '/v1/jobs', request)));
    sampling = false;
    await sampler;
    // Assess
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status !== 202);
    expect(accepted).toHaveLength(10);
    expect(refused.every((a) => a.status === 402 && a.body.error.code === 'budget_exceeded')).toBe(true);
    expect(refused[0]?.body.error.message).toMatch(
      /budget cannot cover this job: it needs \$[\d.]+ and \$[\d.]+ of the \$[\d.]+ budget is available/,
    );
    expect(lowest).toBeGreaterThanOrEqual(0);
    const during = await stack.tenants.getTenant(tenant.tenantId);
    expect(during?.availableUsd).toBeGreaterThanOrEqual(0);
    expect(
      usd((during?.availableUsd ?? 0) + (during?.reservedUsd ?? 0) + (during?.spentUsd ?? 0)),
    ).toBeCloseTo(budget, 6);

    // Act: cancel every accepted job (they end CANCELLED and settle once their last call has ended;
    // a cancel answers after at most 5 s, with the job still RUNNING while a slow call outlasts that)
    const cancelled = await Promise.all(accepted.map((a) => post(apiKey, `/v1/jobs/${a.body.jobId}/cancel`)));
    for (const c of cancelled) expect(c.status).toBe(200);
    const ended = await Promise.all(accepted.map((a) => untilEnded(apiKey, a.body.jobId as string)));
    // Assess
    for (const job of ended) {
      expect(job).toMatchObject({ status: 'CANCELLED', error: 'cancelled by the tenant' });
    }
    const after = await stack.tenants.getTenant(tenant.tenantId);
    expect(after?.reservedUsd).toBe(0);
    expect(after?.availableUsd).toBeGreaterThanOrEqual(0);
    expect(after?.spentUsd).toBeLessThanOrEqual(budget);
    expect(usd((after?.availableUsd ?? 0) + (after?.spentUsd ?? 0))).toBeCloseTo(budget, 6);
  }, 120_000);

  it('cancels a running job, keeps its steps, and refuses to cancel it twice (409)', async () => {
    // Prepare
    const { apiKey } = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Canceller', budgetUsd: 5, maxSubagents: 10 },
    );
    const posted = await post(apiKey, '/v1/jobs', bmaDemoRequest(4, 1));
    const jobId = posted.body.jobId as string;
    // Wait for the first step records, so there is something to keep.
    for (let i = 0; i < 400; i++) {
      const steps = await get(apiKey, `/v1/jobs/${jobId}/steps`);
      if (steps.body.items.length > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // Act
    const cancel = await post(apiKey, `/v1/jobs/${jobId}/cancel`);
    const again = await post(apiKey, `/v1/jobs/${jobId}/cancel`);
    // Assess
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('CANCELLED');
    expect(cancel.body.metrics.criticalSteps).toBeGreaterThan(0);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    const steps = await get(apiKey, `/v1/jobs/${jobId}/steps`);
    expect(steps.body.items.length).toBeGreaterThan(0);
    const job = await get(apiKey, `/v1/jobs/${jobId}`);
    expect(job.body.status).toBe('CANCELLED');
  }, 60_000);
});
