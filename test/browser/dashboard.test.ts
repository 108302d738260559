import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeArgs, type RunningServer, startServer } from '#cli/commands/serve';
import type { StepRecord } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { ARTIFACTS, launchChromium } from './browser';

interface JobBody {
  jobId: string;
  status: string;
  metrics?: {
    criticalSteps: number;
    sequentialSteps: number;
    subagents: { spawned: number; completed: number };
  };
}

describe('the dashboard of parl serve, in headless Chromium', () => {
  let dataDir: string;
  let server: RunningServer;
  let browser: Browser;
  let key: string;

  const api = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
    const res = await fetch(`${server.apiUrl}${path}`, {
      ...init,
      headers: { 'x-api-key': key, 'content-type': 'application/json', ...init.headers },
    });
    expect(res.status).toBeLessThan(300);
    return (await res.json()) as T;
  };
  const submitDemo = async (installations: number, seed: number) =>
    (
      await api<{ jobId: string }>('/v1/jobs', {
        method: 'POST',
        body: JSON.stringify(bmaDemoRequest(installations, seed)),
      })
    ).jobId;
  const finished = async (jobId: string): Promise<JobBody> => {
    for (;;) {
      const job = await api<JobBody>(`/v1/jobs/${jobId}`);
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const allSteps = async (jobId: string) =>
    (await api<{ items: StepRecord[] }>(`/v1/jobs/${jobId}/steps?limit=1000`)).items;
  const open = async (hash: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(server.dashboardUrl);
    await page.waitForSelector('table.jobs');
    if (hash !== '#/jobs') await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
    return page;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parl-dashboard-'));
    const opts = parseServeArgs(['--port', '0', '--data-dir', dataDir, '--latency-scale', '1']);
    server = await startServer(opts, () => {});
    key = decodeURIComponent(new URL(server.dashboardUrl).hash.replace('#key=', ''));
    browser = await launchChromium();
  }, 300_000); // boots the stack and builds the page: minutes on a loaded machine
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists a finished demo job with its status, sub-agents, reward and cost', async () => {
    // Prepare: a demo job of 4 installations, finished
    const jobId = await submitDemo(4, 1);
    const job = await finished(jobId);
    expect(job.status).toBe('SUCCEEDED');

    // Act
    const page = await open('#/jobs');
    const row = page.locator(`tr[data-job="${jobId}"]`);
    await row.waitFor();

    // Assess: the key left the address bar; the row shows what the API says
    expect(page.url()).not.toContain('key=');
    expect(await row.getAttribute('data-status')).toBe('SUCCEEDED');
    const m = job.metrics!;
    expect(await row.locator('[data-col=subagents]').textContent()).toBe(
      `${m.subagents.completed}/${m.subagents.spawned}`,
    );
    expect(await row.locator('[data-col=reward]').textContent()).toMatch(/^0\.\d{3}$|^1\.000$/);
    expect(await row.locator('[data-col=cost]').textContent()).toMatch(/^\$0\.\d{4}$/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-jobs.png') });
    await page.close();
  });

  it('draws the timeline with one lane per agent and the critical path marked', async () => {
    // Prepare: a finished job; its agents and its longest sub-agent, from the API's steps
    const jobId = await submitDemo(5, 2);
    const job = await finished(jobId);
    const steps = await allSteps(jobId);
    const agents = [...new Set(steps.map((s) => s.agentId))].sort();
    const subMs = new Map<string, number>();
    for (const s of steps.filter((x) => x.role === 'sub'))
      subMs.set(s.agentId, (subMs.get(s.agentId) ?? 0) + s.durationMs);
    const longest = [...subMs].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];

    // Act
    const page = await open(`#/jobs/${jobId}`);
    await page.locator('.job-status[data-status="SUCCEEDED"]').waitFor();

    // Assess: lanes = agents; the critical sub-agent's lane and the legend say so; the chart is drawn
    const lanes = await page
      .locator('li[data-lane]')
      .evaluateAll((els) =>
        els.map((e) => ({ lane: e.getAttribute('data-lane'), critical: e.getAttribute('data-critical') })),
      );
    expect(lanes.map((l) => l.lane).sort()).toEqual(agents);
    expect(lanes.find((l) => l.lane === longest)?.critical).toBe('true');
    expect(lanes.filter((l) => l.critical === 'true' && l.lane?.startsWith('agent-'))).toHaveLength(1);
    expect(await page.locator('.legend').getAttribute('data-critical')).toBe(longest);
    expect(await page.locator('[data-measure=steps] td').textContent()).toContain(
      `${job.metrics!.criticalSteps} vs ${job.metrics!.sequentialSteps}`,
    );
    const canvas = page.locator('[data-testid=timeline] canvas').first();
    expect((await canvas.boundingBox())?.height).toBeGreaterThan(100);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-timeline.png'), fullPage: true });
    await page.close();
  });

  it('updates the job page while the job runs, without a reload', async () => {
    // Prepare: a job of 8 installations at latency ×1 (several seconds)
    const jobId = await submitDemo(8, 3);

    // Act: open its page at once
    const page = await open(`#/jobs/${jobId}`);
    const status = page.locator('.job-status');
    await status.waitFor();
    const first = await status.getAttribute('data-status');
    const firstLanes = await page.locator('li[data-lane]').count();
    await page.locator('.job-status[data-status="SUCCEEDED"]').waitFor({ timeout: 120_000 });

    // Assess: it was seen running, then finished, lanes appeared and the final measures came in
    expect(['ACCEPTED', 'RUNNING']).toContain(first);
    expect(await page.locator('li[data-lane]').count()).toBeGreaterThan(firstLanes);
    expect(await page.locator('.measures h3').textContent()).toBe('Measures');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-live.png'), fullPage: true });
    await page.close();
  });
});
