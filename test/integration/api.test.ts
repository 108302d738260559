import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { API_ROUTES } from '#shared/domain/api-routes';
import type { StepRecord } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { createTenant } from '#shared/use-cases/tenants';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & {
    error?: { code: string; message: string; details?: Record<string, unknown> };
  };
}

describe('the REST API over HTTP on loopback (local API Gateway, authorizer, api function)', () => {
  let stack: EmbeddedStack;
  let api: LocalApi;
  let keyA: string;
  let keyB: string;
  let tenantA: string;

  const call = async (
    method: string,
    path: string,
    opts: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        ...(opts.key ? { 'x-api-key': opts.key } : {}),
        ...(opts.body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.raw !== undefined
        ? { body: opts.raw }
        : opts.body !== undefined
          ? { body: JSON.stringify(opts.body) }
          : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
  };

  const waitFor = async (key: string, jobId: string): Promise<Answer> => {
    for (let i = 0; i < 600; i++) {
      const got = await call('GET', `/v1/jobs/${jobId}`, { key });
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(String(got.body.status))) return got;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${jobId} did not finish`);
  };

  const allSteps = async (key: string, jobId: string, limit = 7): Promise<StepRecord[]> => {
    const steps: StepRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(
        'GET',
        `/v1/jobs/${jobId}/steps?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
        { key },
      );
      expect(page.status).toBe(200);
      steps.push(...(page.body.items as StepRecord[]));
      cursor = page.body.nextCursor as string | undefined;
    } while (cursor);
    return steps;
  };

  const small = (n = 4, extra: Record<string, unknown> = {}) => ({ ...bmaDemoRequest(n, 2), ...extra });

  /** A tenant of the test's own ($50, cap 20), so that no test reads another's jobs. */
  const newTenant = async (name: string) => {
    const { tenant, apiKey } = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name, budgetUsd: 50, maxSubagents: 20 },
    );
    return { key: apiKey, tenantId: tenant.tenantId };
  };

  /** Posts a job for `key` and waits for its end. */
  const runJob = async (key: string, body: unknown): Promise<Answer> => {
    const posted = await call('POST', '/v1/jobs', { key, body });
    expect(posted.status).toBe(202);
    return waitFor(key, posted.body.jobId as string);
  };

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({ simulator: { seed: 4, latencyScale: 0 }, sfnEndpoint: true });
    api = await startLocalApi(stack);
    const a = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Alpha', budgetUsd: 50, maxSubagents: 20 },
    );
    const b = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Beta', budgetUsd: 50, maxSubagents: 20 },
    );
    keyA = a.apiKey;
    keyB = b.apiKey;
    tenantA = a.tenant.tenantId;
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  it('runs a job submitted over HTTP to SUCCEEDED, and its metrics match its steps', async () => {
    // Act
    const posted = await call('POST', '/v1/jobs', { key: keyA, body: small(6) });
    // Assess
    expect(posted.status).toBe(202);
    const jobId = posted.body.jobId as string;
    expect(posted.headers.get('location')).toBe(`/v1/jobs/${jobId}`);
    expect(posted.body.links).toMatchObject({ self: `/v1/jobs/${jobId}` });
    const done = await waitFor(keyA, jobId);
    expect(done.body.status).toBe('SUCCEEDED');
    const steps = await allSteps(keyA, jobId, 5);
    const metrics = done.body.metrics as Record<string, unknown> & { tokens: Record<string, number> };
    expect(steps.length).toBeGreaterThan(5); // more than one page
    expect(new Set(steps.map((s) => `${s.stage}/${s.role}/${s.agentId}/${s.step}`)).size).toBe(steps.length);
    // CriticalSteps and SequentialSteps folded here from the steps, per stage: the orchestrator's
    // steps plus the longest (the sum of the) sub-agents' step counts
    const stages = new Map<number, { main: number; subs: Map<string, number> }>();
    for (const s of steps) {
      const t = stages.get(s.stage) ?? { main: 0, subs: new Map<string, number>() };
      if (s.role === 'main') t.main += 1;
      else t.subs.set(s.agentId, (t.subs.get(s.agentId) ?? 0) + 1);
      stages.set(s.stage, t);
    }
    let critical = 0;
    let sequential = 0;
    for (const t of stages.values()) {
      critical += t.main + Math.max(0, ...t.subs.values());
      sequential += t.main + [...t.subs.values()].reduce((a, b) => a + b, 0);
    }
    expect([...stages.values()].reduce((n, t) => n + t.subs.size, 0)).toBe(6);
    expect(metrics.criticalSteps).toBe(critical);
    expect(metrics.sequentialSteps).toBe(sequential);
    expect(metrics.tokens).toEqual({
      input: steps.reduce((n, s) => n + s.inputTokens, 0),
      output: steps.reduce((n, s) => n + s.outputTokens, 0),
      cachedInput: steps.reduce((n, s) => n + s.cachedInputTokens, 0),
    });
  });

  it("keeps tenants apart: B cannot read, list, page or cancel A's job (404, as for no job)", async () => {
    // Prepare
    const posted = await call('POST', '/v1/jobs', { key: keyA, body: small(3) });
    const jobId = posted.body.jobId as string;
    // Act
    const read = await call('GET', `/v1/jobs/${jobId}`, { key: keyB });
    const steps = await call('GET', `/v1/jobs/${jobId}/steps`, { key: keyB });
    const cancel = await call('POST', `/v1/jobs/${jobId}/cancel`, { key: keyB });
    const missing = await call('GET', '/v1/jobs/00000000-0000-0000-0000-000000000000', { key: keyB });
    const list = await call('GET', '/v1/jobs', { key: keyB });
    // Assess
    for (const answer of [read, steps, cancel]) {
      expect(answer.status).toBe(404);
      expect(answer.body.error?.code).toBe('not_found');
    }
    expect(missing.status).toBe(404);
    expect(read.body.error?.message.replace(jobId, 'X')).toBe(
      missing.body.error?.message.replace('00000000-0000-0000-0000-000000000000', 'X'),
    );
    expect((list.body.items as { jobId: string }[]).some((j) => j.jobId === jobId)).toBe(false);
    const own = await call('GET', '/v1/jobs', { key: keyA });
    expect((own.body.items as { jobId: string }[]).some((j) => j.jobId === jobId)).toBe(true);
    await waitFor(keyA, jobId);
  });

  it("ignores a tenantId in the body or query: the job belongs to the key's tenant", async () => {
    const posted = await call('POST', `/v1/jobs?tenantId=${tenantA}`, {
      key: keyB,
      body: { ...small(2), tenantId: tenantA },
    });
    expect(posted.status).toBe(202);
    const jobId = posted.body.jobId as string;
    expect((await call('GET', `/v1/jobs/${jobId}`, { key: keyA })).status).toBe(404);
    expect((await call('GET', `/v1/jobs/${jobId}`, { key: keyB })).status).toBe(200);
    await waitFor(keyB, jobId);
  });

  it.each([
    ['no key', 401, undefined],
    ['a malformed key', 401, 'not-a-key'],
    ['an unknown tenant', 401, 'parl_t-000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
  ])('answers %s with %i and a JSON error', async (_name, status, key) => {
    const answer = await call('GET', '/v1/jobs', key ? { key } : {});
    expect(answer.status).toBe(status);
    expect(answer.body.error?.code).toBe('unauthorized');
  });

  it('answers a wrong secret for a real tenant with 401, and a revoked key with 403', async () => {
    const c = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Gamma', budgetUsd: 1, maxSubagents: 5 },
    );
    const forged =
      `${c.apiKey.slice(0, -4)}AAAA` === c.apiKey
        ? `${c.apiKey.slice(0, -4)}BBBB`
        : `${c.apiKey.slice(0, -4)}AAAA`;
    expect((await call('GET', '/v1/jobs', { key: forged })).status).toBe(401);
    expect((await call('GET', '/v1/jobs', { key: c.apiKey })).status).toBe(200);
    await stack.tenants.revokeKey(c.tenant.tenantId);
    const revoked = await call('GET', '/v1/jobs', { key: c.apiKey });
    expect(revoked.status).toBe(403);
    expect(revoked.body.error?.code).toBe('forbidden');
  });

  it.each([
    ['bad JSON', { raw: '{"task": ' }, 'body'],
    ['a JSON array', { raw: '[1,2]' }, 'body'],
    ['an empty body', { raw: '' }, 'body'],
    ['a wrong type', { body: { task: 5 } }, 'task'],
    ['an unknown field', { body: { task: 'x', colour: 'red' } }, 'colour'],
    ['a wrong nested type', { body: { task: 'x', subtasks: [{ prompt: 3 }] } }, 'subtasks[0]'],
    [
      'maxSubagents above the tenant cap (20)',
      { body: { task: 'x', subtasks: ['a'], maxSubagents: 21 } },
      'maxSubagents',
    ],
    ['an oversize body', { raw: JSON.stringify({ task: 'x'.repeat(2_000_000) }) }, 'body'],
    [
      'a bad Idempotency-Key',
      { body: { task: 'x' }, headers: { 'idempotency-key': 'has spaces' } },
      'Idempotency-Key',
    ],
  ])('rejects %s with 400 naming the field, and starts nothing', async (_name, req, field) => {
    // Prepare
    const before = await stack.tenants.getTenant(tenantA);
    const listBefore = await call('GET', '/v1/jobs?limit=100', { key: keyA });
    // Act
    const answer = await call('POST', '/v1/jobs', { key: keyA, ...req });
    // Assess
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('invalid_request');
    expect(answer.body.error?.details?.field).toBe(field);
    expect(JSON.stringify(answer.body)).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    const listAfter = await call('GET', '/v1/jobs?limit=100', { key: keyA });
    expect((listAfter.body.items as unknown[]).length).toBe((listBefore.body.items as unknown[]).length);
    expect((await stack.tenants.getTenant(tenantA))?.reservedUsd).toBe(before?.reservedUsd);
  });

  it.each([
    ['limit', '/v1/jobs?limit=0'],
    ['cursor', '/v1/jobs?cursor=bm90LWEtY3Vyc29y'],
    ['period', '/v1/usage?period=2026-13'],
  ])('rejects a bad %s query parameter with 400', async (field, path) => {
    const answer = await call('GET', path, { key: keyA });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.details?.field).toBe(field);
  });

  it.each([
    ["a tenant revoked within the authorizer's 30 s cache", 'revoked', 403, 'forbidden'],
    ['a tenant that does not exist', 'missing', 401, 'unauthorized'],
  ])(
    'refuses a job of %s in the api function itself, and accepts nothing',
    async (_what, kind, status, code) => {
      // Prepare: the api function called as API Gateway would after an Allow cached before the revocation
      let tenantId = 't-000000000000';
      if (kind === 'revoked') {
        const { tenant } = await createTenant(
          { tenants: stack.tenants, maxSubagentsCap: 1000 },
          { name: 'Revoked', budgetUsd: 5, maxSubagents: 5 },
        );
        await stack.tenants.revokeKey(tenant.tenantId);
        tenantId = tenant.tenantId;
      }
      const event = {
        resource: '/v1/jobs',
        path: '/v1/jobs',
        httpMethod: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(small(2)),
        isBase64Encoded: false,
        requestContext: { authorizer: { tenantId }, requestId: 'r-1' },
      };
      // Act
      const out = (await stack.invoke('api', event)) as { statusCode: number; body: string };
      // Assess
      expect(out.statusCode).toBe(status);
      expect(JSON.parse(out.body).error.code).toBe(code);
      expect((await stack.store.listJobs(tenantId)).items).toHaveLength(0);
      const tenant = await stack.tenants.getTenant(tenantId);
      expect(tenant?.reservedUsd ?? 0).toBe(0);
    },
  );

  it('returns the same job for a retried POST with the same Idempotency-Key, and 409 for another body', async () => {
    // Prepare
    const body = small(3);
    const headers = { 'idempotency-key': `retry-${Date.now()}` };
    // Act
    const [first, second] = await Promise.all([
      call('POST', '/v1/jobs', { key: keyA, body, headers }),
      call('POST', '/v1/jobs', { key: keyA, body, headers }),
    ]);
    const third = await call('POST', '/v1/jobs', { key: keyA, body, headers });
    const other = await call('POST', '/v1/jobs', { key: keyA, body: small(4), headers });
    // Assess
    expect([first.status, second.status, third.status]).toEqual([202, 202, 202]);
    expect(second.body.jobId).toBe(first.body.jobId);
    expect(third.body.jobId).toBe(first.body.jobId);
    expect(third.headers.get('idempotent-replayed')).toBe('true');
    expect(other.status).toBe(409);
    expect(other.body.error?.code).toBe('idempotency_conflict');
    const list = await call('GET', '/v1/jobs?limit=100', { key: keyA });
    expect((list.body.items as { jobId: string }[]).filter((j) => j.jobId === first.body.jobId)).toHaveLength(
      1,
    );
    await waitFor(keyA, first.body.jobId as string);
  });

  it("pages the tenant's jobs newest first with a cursor", async () => {
    // Prepare: a tenant with three jobs, posted one after the other
    const { key } = await newTenant('Pager');
    const posted: string[] = [];
    for (const n of [2, 3, 2]) {
      const answer = await call('POST', '/v1/jobs', { key, body: small(n) });
      posted.push(answer.body.jobId as string);
    }
    // Act: pages of two
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await call('GET', `/v1/jobs?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { key });
      pages.push((page.body.items as { jobId: string }[]).map((j) => j.jobId));
      cursor = page.body.nextCursor as string | undefined;
    } while (cursor);
    // Assess: [3rd, 2nd], [1st]
    expect(pages.flat()).toEqual([...posted].reverse());
    expect(pages[0]).toHaveLength(2);
    for (const jobId of posted) await waitFor(key, jobId);
  });

  it("shows the tenant's fan-out policy after jobs that learn, and only to that tenant", async () => {
    // Prepare
    const { key: keyA } = await newTenant('Learner');
    const { key: keyB } = await newTenant('Bystander');
    // Act: two scored jobs of one task class with the policy learning
    for (const seed of [1, 2]) {
      const posted = await call('POST', '/v1/jobs', {
        key: keyA,
        body: { ...bmaDemoRequest(6, seed), policy: 'learn', taskClass: 'nightly-check' },
      });
      expect(posted.status).toBe(202);
      expect((await waitFor(keyA, posted.body.jobId as string)).body.status).toBe('SUCCEEDED');
    }
    const all = await call('GET', '/v1/policy', { key: keyA });
    const one = await call('GET', '/v1/policy?taskClass=nightly-check', { key: keyA });
    const other = await call('GET', '/v1/policy', { key: keyB });
    const bad = await call('GET', '/v1/policy?taskClass=Not%20a%20class', { key: keyA });
    // Assess
    expect(all.status).toBe(200);
    const policies = all.body.policies as { taskClass: string; jobs: number; arms: { count: number }[] }[];
    const nightly = policies.find((p) => p.taskClass === 'nightly-check');
    expect(nightly?.jobs).toBe(2);
    expect((nightly?.arms ?? []).reduce((n, a) => n + a.count, 0)).toBe(2);
    expect(one.body.policies).toEqual([nightly]);
    expect(other.body).toEqual({ tenantId: expect.any(String), policies: [] });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.details).toMatchObject({ field: 'taskClass' });
  });

  it('serves an OpenAPI 3 document without a key, listing exactly the routes', async () => {
    const answer = await call('GET', '/v1/openapi.json');
    expect(answer.status).toBe(200);
    expect(answer.body.openapi).toMatch(/^3\./);
    const paths = answer.body.paths as Record<string, Record<string, { operationId: string }>>;
    const documented = Object.entries(paths).flatMap(([p, ops]) =>
      Object.entries(ops).map(([m, op]) => `${m.toUpperCase()} ${p} ${op.operationId}`),
    );
    expect(documented.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path} ${r.operationId}`).sort());
  });

  it('answers unknown routes with a JSON 404 and a wrong method with 405', async () => {
    expect((await call('GET', '/v1/nothing', { key: keyA })).body.error?.code).toBe('route_not_found');
    expect((await call('DELETE', '/v1/jobs', { key: keyA })).status).toBe(405);
  });

  it("reports usage equal to the sum of the tenant's step records", async () => {
    // Prepare: a tenant with two finished (settled) jobs
    const { key } = await newTenant('Meter');
    const jobIds: string[] = [];
    for (const n of [3, 5]) jobIds.push((await runJob(key, small(n))).body.jobId as string);
    const steps = (await Promise.all(jobIds.map((jobId) => allSteps(key, jobId, 100)))).flat();
    // Act
    const usage = await call('GET', `/v1/usage?period=${new Date().toISOString().slice(0, 7)}`, { key });
    // Assess: token sums, and kimi-k2.5's prices ($0.60/M uncached input, $0.10/M cached, $3/M output)
    const sum = (f: (s: StepRecord) => number) => steps.reduce((n, s) => n + f(s), 0);
    const input = sum((s) => s.inputTokens);
    const cached = sum((s) => s.cachedInputTokens);
    const output = sum((s) => s.outputTokens);
    const cost = ((input - cached) * 0.6 + cached * 0.1 + output * 3) / 1e6;
    expect(usage.status).toBe(200);
    expect(usage.body).toMatchObject({
      jobs: 2,
      calls: steps.length,
      inputTokens: input,
      outputTokens: output,
      cachedInputTokens: cached,
    });
    expect(input).toBeGreaterThan(0);
    expect(usage.body.costUsd).toBeCloseTo(cost, 5);
    const budget = usage.body.budget as Record<string, number>;
    expect(budget.reservedUsd).toBe(0);
    expect(budget.spentUsd).toBeCloseTo(cost, 5);
    expect(budget.availableUsd).toBeCloseTo(50 - cost, 5);
  });
});
