import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { DynamoRequestWindow } from '#shared/adapters/dynamo/request-window';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { createTenant } from '#shared/use-cases/tenants';
import { type Answer, apiCaller } from './api-client';

describe('per-tenant limits over the REST API (requests a second, jobs at once)', () => {
  let stack: EmbeddedStack;
  let api: LocalApi;
  const call = apiCaller(() => api);

  const tenant = async (limits: { requestsPerSecond?: number; maxConcurrentJobs?: number }) =>
    createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Limited', budgetUsd: 5, maxSubagents: 10, ...limits },
    );
  const untilEnded = async (key: string, jobId: string): Promise<void> => {
    for (let i = 0; i < 1200; i++) {
      const got = await call('GET', `/v1/jobs/${jobId}`, { key });
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(String(got.body.status))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId} did not end`);
  };

  beforeAll(async () => {
    // Slow model calls, so the jobs stay running while the limit is tried.
    stack = await EmbeddedStack.boot({ simulator: { seed: 3, latencyScale: 5 }, sfnEndpoint: true });
    api = await startLocalApi(stack);
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  it('answers 429 with Retry-After and the limit’s name past the tenant’s requests a second, and only to that tenant', async () => {
    // Prepare
    const noisy = await tenant({ requestsPerSecond: 1 });
    const quiet = await tenant({});
    // Act: the noisy tenant polls back to back until it is refused
    let refused: Answer | undefined;
    for (let i = 0; i < 50 && !refused; i++) {
      const got = await call('GET', '/v1/usage', { key: noisy.apiKey });
      if (got.status === 429) refused = got;
      else expect(got.status).toBe(200);
    }
    const other = await call('GET', '/v1/usage', { key: quiet.apiKey });
    // Assess
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(refused?.body.error).toMatchObject({
      code: 'limit_exceeded',
      details: { limit: 'requestsPerSecond', value: 1, retryAfterSeconds: 1 },
    });
    expect(refused?.body.error?.message).toMatch(/requestsPerSecond/);
    expect(other.status).toBe(200);
  });

  it('answers 429 naming maxConcurrentJobs for a job past the tenant’s jobs at once, holding no money for it', async () => {
    // Prepare: two running jobs, the tenant's limit
    const { tenant: t, apiKey } = await tenant({ maxConcurrentJobs: 2 });
    const first = await call('POST', '/v1/jobs', { key: apiKey, body: bmaDemoRequest(4, 1) });
    const second = await call('POST', '/v1/jobs', { key: apiKey, body: bmaDemoRequest(4, 2) });
    expect([first.status, second.status]).toEqual([202, 202]);
    const held = (await stack.tenants.getTenant(t.tenantId))?.reservedUsd;
    // Act
    const third = await call('POST', '/v1/jobs', { key: apiKey, body: bmaDemoRequest(4, 3) });
    // Assess
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('10');
    expect(third.body.error).toMatchObject({
      code: 'limit_exceeded',
      details: { limit: 'maxConcurrentJobs', value: 2 },
    });
    expect((await stack.tenants.getTenant(t.tenantId))?.reservedUsd).toBe(held);

    // Act: one job ends (cancelled), and a new one fits again
    await call('POST', `/v1/jobs/${first.body.jobId}/cancel`, { key: apiKey });
    await untilEnded(apiKey, String(first.body.jobId));
    const fourth = await call('POST', '/v1/jobs', { key: apiKey, body: bmaDemoRequest(4, 4) });
    // Assess
    expect(fourth.status).toBe(202);
    for (const job of [second, fourth]) {
      await call('POST', `/v1/jobs/${job.body.jobId}/cancel`, { key: apiKey });
      await untilEnded(apiKey, String(job.body.jobId));
    }
    expect(await stack.tenants.getTenant(t.tenantId)).toMatchObject({ activeJobs: 0, reservedUsd: 0 });
  }, 120_000);

  it('counts requests in fixed one-second windows: the limit within a second, a fresh count the next', async () => {
    // Prepare: a window on a clock the test moves
    let now = 1_000_000;
    const window = new DynamoRequestWindow(
      createDynamoDocumentClient(stack.config),
      stack.config.tableName,
      () => now,
    );
    // Act
    const within = [];
    for (let i = 0; i < 4; i++) within.push(await window.admit('t-window', 3));
    now += 1000;
    const next = await window.admit('t-window', 3);
    // Assess
    expect(within.map((a) => a.admitted)).toEqual([true, true, true, false]);
    expect(within[3]).toEqual({ admitted: false, retryAfterSeconds: 1 });
    expect(next.admitted).toBe(true);
  });

  it('admits exactly the limit of requests arriving at once at the start of a second (no caller lost to the race)', async () => {
    // Prepare
    const window = new DynamoRequestWindow(
      createDynamoDocumentClient(stack.config),
      stack.config.tableName,
      () => 5_000_000,
    );
    // Act
    const answers = await Promise.all(Array.from({ length: 30 }, () => window.admit('t-race', 25)));
    // Assess
    expect(answers.filter((a) => a.admitted)).toHaveLength(25);
  });
});
