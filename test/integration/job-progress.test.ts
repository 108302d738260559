import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalApi, startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import type { JobProgress } from '#shared/use-cases/jobs';
import { createTenant } from '#shared/use-cases/tenants';

interface Seen {
  status: string;
  progress?: JobProgress;
}

describe('progress in GET /v1/jobs/{id} (local API over HTTP, a slow simulator)', () => {
  let stack: EmbeddedStack;
  let api: LocalApi;
  let key: string;
  let tenantId: string;

  const get = async (path: string) => {
    const res = await fetch(`${api.url}${path}`, { headers: { 'x-api-key': key } });
    return (await res.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({
      // One installation's calls fail with a 400 (not retried): its sub-agent ends FAILED.
      simulator: { seed: 3, latencyScale: 0.3, faults: [{ match: 'BMA-0002', status: 400 }] },
      sfnEndpoint: true,
    });
    api = await startLocalApi(stack);
    const created = await createTenant(
      { tenants: stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Progress', budgetUsd: 50, maxSubagents: 20 },
    );
    key = created.apiKey;
    tenantId = created.tenant.tenantId;
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  it('counts sub-agents done, failed and total and the steps so far while RUNNING, and once ended', async () => {
    // Prepare: 6 installations, 2 sub-agents at a time (three waves)
    const res = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ ...bmaDemoRequest(6, 2), maxSubagents: 2 }),
    });
    const jobId = ((await res.json()) as { jobId: string }).jobId;

    // Act: poll until it ends, keeping every answer
    const seen: Seen[] = [];
    for (let i = 0; i < 2000; i++) {
      const got = (await get(`/v1/jobs/${jobId}`)) as unknown as Seen;
      seen.push(got);
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(got.status)) break;
      await new Promise((r) => setTimeout(r, 20));
    }

    // Assess: every answer has progress; it only grows; some answer showed a job half done
    const last = seen.at(-1) as Seen;
    expect(last.status).toBe('SUCCEEDED');
    expect(seen.every((s) => s.progress !== undefined)).toBe(true);
    const running = seen.filter((s) => s.status === 'RUNNING' && (s.progress?.subagents.total ?? 0) > 0);
    expect(running.some((s) => (s.progress?.subagents.done ?? 0) < 6 && (s.progress?.steps ?? 0) > 0)).toBe(
      true,
    );
    for (let i = 1; i < seen.length; i++) {
      const [before, after] = [seen[i - 1]?.progress, seen[i]?.progress];
      expect(after?.steps).toBeGreaterThanOrEqual(before?.steps ?? 0);
      expect(after?.subagents.done).toBeGreaterThanOrEqual(before?.subagents.done ?? 0);
    }
    const ref = { tenantId, jobId };
    const [steps, agents] = await Promise.all([stack.store.listSteps(ref), stack.store.listAgents(ref)]);
    expect(last.progress).toEqual({
      stage: 1,
      subagents: { done: 6, failed: agents.filter((a) => a.status === 'FAILED').length, total: 6 },
      steps: steps.length,
    });
    expect(last.progress?.subagents.failed).toBe(1);
  }, 120_000);

  it('lists a running job with its progress and a finished one without', async () => {
    // Prepare: one slow job still running, the earlier ones finished
    const res = await fetch(`${api.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ ...bmaDemoRequest(4, 5), maxSubagents: 1 }),
    });
    const jobId = ((await res.json()) as { jobId: string }).jobId;

    // Act
    const listed = (await get('/v1/jobs')) as { items: (Seen & { jobId: string })[] };

    // Assess
    const mine = listed.items.find((j) => j.jobId === jobId);
    expect(['ACCEPTED', 'RUNNING']).toContain(mine?.status);
    expect(mine?.progress).toMatchObject({ stage: 1, subagents: { failed: 0 } });
    const ended = listed.items.filter((j) => j.status === 'SUCCEEDED');
    expect(ended.length).toBeGreaterThan(0);
    expect(ended.every((j) => j.progress === undefined)).toBe(true);
  }, 120_000);
});
