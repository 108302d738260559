import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { usd } from '#shared/domain/tenant';
import { createTenant, rotateApiKey } from '#shared/use-cases/tenants';
import { type Answer, apiCaller, hasLoneSurrogate } from './api-client';

const prompts = (n: number) => Array.from({ length: n }, (_, i) => `Is ${i} even?`);
/** A request whose one record is `depth` objects deep, as JSON text (JSON.stringify would overflow). */
const nestedRaw = (depth: number): string =>
  `{"task":"t","subtasks":["a"],"dataset":{"k":[${'{"x":'.repeat(depth)}"leaf"${'}'.repeat(depth)}]}}`;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('hostile input on the REST API (issue 14: defects 1, 3, 4, 5)', () => {
  let stack: EmbeddedStack;
  let api: LocalApi;
  let key: string;
  let tenantId: string;
  const call = apiCaller(() => api);

  type Balance = { budgetUsd: number; availableUsd: number; reservedUsd: number; spentUsd: number };
  const balance = async (): Promise<Balance> => {
    const usage = await call('GET', '/v1/usage', { key });
    expect(usage.status).toBe(200);
    return usage.body.budget as Balance;
  };

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({ simulator: { seed: 3, latencyScale: 0 }, sfnEndpoint: true });
    api = await startLocalApi(stack);
    const made = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Poor', budgetUsd: 1, maxSubagents: 20 },
    );
    key = made.apiKey;
    tenantId = made.tenant.tenantId;
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  it.each<[string, Record<string, unknown> | string, string]>([
    [
      'duplicate record ids',
      { task: 't', subtasks: prompts(130), dataset: { k: [{ id: '1' }, { id: '1' }] } },
      'dataset.k[1].id',
    ],
    [
      'a record without an id whose index is another record id',
      { task: 't', subtasks: ['a'], dataset: { k: [{ id: '1' }, { v: 2 }] } },
      'dataset.k[1].id',
    ],
    ['data nested 10,000 deep', nestedRaw(10_000), 'dataset.k[0]'],
    [
      'a record id over 1,024 bytes',
      { task: 't', subtasks: ['a'], dataset: { k: [{ id: 'é'.repeat(600) }] } },
      'dataset.k[0].id',
    ],
    [
      'a collection name over 1,024 bytes',
      { task: 't', subtasks: ['a'], dataset: { ['k'.repeat(1100)]: [{}] } },
      'dataset',
    ],
    [
      'a record over 400 KB',
      { task: 't', subtasks: ['a'], dataset: { k: [{ id: 'a', v: 'x'.repeat(420_000) }] } },
      'dataset.k[0]',
    ],
    [
      'a number DynamoDB cannot store',
      { task: 't', subtasks: ['a'], dataset: { k: [{ id: 'a', v: 1e200 }] } },
      'dataset.k[0].v',
    ],
  ])('refuses %s with a 400 naming the field, and holds no money', async (_what, body, field) => {
    // Prepare
    const before = await balance();
    // Act
    const answer = await call(
      'POST',
      '/v1/jobs',
      typeof body === 'string' ? { key, raw: body } : { key, body },
    );
    // Assess
    expect(answer.status).toBe(400);
    expect(String(answer.body.error?.details?.field).startsWith(field)).toBe(true);
    const after = await balance();
    expect(after).toEqual(before);
    expect(after.reservedUsd).toBe(0);
    expect(usd(after.availableUsd + after.reservedUsd + after.spentUsd)).toBe(after.budgetUsd);
  });

  it.each<[string, string]>([
    ['a lone high surrogate in a prompt', '{"task":"t","subtasks":["a\\ud800b"]}'],
    ['a lone low surrogate in the task', '{"task":"\\udc00"}'],
    ['a lone surrogate in a data key', '{"task":"t","subtasks":["a"],"dataset":{"k":[{"\\ud801":1}]}}'],
  ])('refuses %s (not well-formed Unicode) with a 400', async (_what, raw) => {
    // Act
    const answer = await call('POST', '/v1/jobs', { key, raw });
    // Assess
    expect(answer.status).toBe(400);
    expect(answer.body.error?.message).toMatch(/Unicode/);
    const list = await call('GET', '/v1/jobs', { key });
    expect(list.status).toBe(200);
    expect(hasLoneSurrogate(list.text)).toBe(false);
  });

  it('accepts a pair of surrogates (an emoji) and echoes it intact', async () => {
    // Act
    const answer = await call('POST', '/v1/jobs', { key, body: { task: 'count 🐝', subtasks: ['🐝?'] } });
    // Assess
    expect(answer.status).toBe(202);
    const job = await call('GET', `/v1/jobs/${answer.body.jobId as string}`, { key });
    expect((job.body.request as { task: string }).task).toBe('count 🐝');
  });

  it.each<[string, (job: string) => string]>([
    [
      'a hand-made job cursor with only the partition',
      () => `/v1/jobs?cursor=${b64({ gsi1pk: `TENANT#${tenantId}` })}`,
    ],
    [
      'a job cursor with an extra attribute',
      () =>
        `/v1/jobs?cursor=${b64({ gsi1pk: `TENANT#${tenantId}`, gsi1sk: 'JOB#2026', pk: 'x', sk: 'JOB', extra: 1 })}`,
    ],
    [
      'a job cursor with a number for a key',
      () => `/v1/jobs?cursor=${b64({ gsi1pk: `TENANT#${tenantId}`, gsi1sk: 5, pk: 'x', sk: 'JOB' })}`,
    ],
    [
      'a steps cursor with an extra attribute',
      (job) =>
        `/v1/jobs/${job}/steps?cursor=${b64({ pk: `TENANT#${tenantId}#JOB#${job}`, sk: 'STEP#001', x: 'y' })}`,
    ],
    ['a cursor that is not base64 JSON', () => '/v1/jobs?cursor=%%%'],
  ])('answers %s with a 400 on cursor', async (_what, path) => {
    // Prepare
    const posted = await call('POST', '/v1/jobs', { key, body: { task: 't', subtasks: ['a'] } });
    expect(posted.status).toBe(202);
    // Act
    const answer: Answer = await call('GET', path(posted.body.jobId as string), { key });
    // Assess
    expect(answer.status).toBe(400);
    expect(answer.body.error?.details?.field).toBe('cursor');
  });

  it('serves an OpenAPI document that swagger-parser validates, with a schema for every 2xx answer', async () => {
    // Act
    const served = await call('GET', '/v1/openapi.json');
    // Assess
    expect(served.status).toBe(200);
    const doc = structuredClone(served.body) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    await expect(SwaggerParser.validate(structuredClone(served.body) as never)).resolves.toBeDefined();
    expect(doc.openapi).toBe('3.0.3');
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const responses = (
          op as { responses: Record<string, { content?: Record<string, { schema?: unknown }> }> }
        ).responses;
        const ok = Object.entries(responses).filter(([code]) => code.startsWith('2'));
        expect(ok.length, `${method} ${path}`).toBeGreaterThan(0);
        for (const [code, answer] of ok) {
          expect(answer.content?.['application/json']?.schema, `${method} ${path} ${code}`).toBeDefined();
        }
      }
    }
  });

  it('refuses to rotate the key of a revoked tenant, which stays revoked', async () => {
    // Prepare
    const c = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Revoked', budgetUsd: 1, maxSubagents: 5 },
    );
    await stack.tenants.revokeKey(c.tenant.tenantId);
    // Act
    const rotating = rotateApiKey({ tenants: stack.tenants }, c.tenant.tenantId);
    // Assess
    await expect(rotating).rejects.toThrow(/revoked/);
    expect((await stack.tenants.getTenant(c.tenant.tenantId))?.status).toBe('REVOKED');
    expect((await call('GET', '/v1/jobs', { key: c.apiKey })).status).toBe(403);
  });
});
