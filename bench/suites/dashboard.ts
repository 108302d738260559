/**
 * The `dashboard` suite: how fast a big job's page renders in a real browser. It starts `parl serve`
 * in-process (simulator latency ×0), runs a job of `--installations` sub-agents (1,000 by default)
 * through the API, then opens the job's page `--reps` times in headless Chromium (Debian's, through
 * playwright-core) and measures navigation → the first complete timeline (`performance.mark`
 * 'parl:timeline': job and all its steps fetched, lanes built, chart drawn).
 *
 *   npm run bench -- --suite dashboard [--installations 1000] [--reps 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServeArgs, startServer } from '#cli/commands/serve';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { launchChromium } from '../../test/browser/browser';
import { type BenchArgs, median, numberArg, printTable, saveResult } from '../common';

interface Job {
  status: string;
  metrics?: { subagents: { spawned: number }; wallClockMs: number };
}

export async function dashboardSuite(args: BenchArgs): Promise<void> {
  const installations = Math.max(1, numberArg(args, 'installations', 1000));
  const reps = Math.max(1, numberArg(args, 'reps', 5));
  const dataDir = mkdtempSync(join(tmpdir(), 'parl-bench-dashboard-'));
  const server = await startServer(
    parseServeArgs(['--port', '0', '--data-dir', dataDir, '--latency-scale', '0']),
    () => {},
  );
  const browser = await launchChromium();
  try {
    const key = decodeURIComponent(new URL(server.dashboardUrl).hash.replace('#key=', ''));
    const call = async <T>(path: string, init: RequestInit = {}, tries = 3): Promise<T> => {
      try {
        const res = await fetch(`${server.apiUrl}${path}`, {
          ...init,
          headers: { 'x-api-key': key, 'content-type': 'application/json' },
        });
        return (await res.json()) as T;
      } catch (error) {
        // A reused keep-alive socket the loaded server closed meanwhile: ask again (GETs only).
        if (tries <= 1 || init.method === 'POST') throw error;
        return call(path, init, tries - 1);
      }
    };
    const request = { ...bmaDemoRequest(installations, 1), maxSubagents: installations };
    const { jobId } = await call<{ jobId: string }>('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify(request),
    });
    let job: Job;
    do {
      await new Promise((r) => setTimeout(r, 500));
      job = await call<Job>(`/v1/jobs/${jobId}`);
    } while (!['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status));
    const steps = await countSteps(call, jobId);

    const { times, lanes } = await timeRenders(
      browser,
      `${server.apiUrl}/#key=${encodeURIComponent(key)}`,
      jobId,
      reps,
    );
    const result = {
      suite: 'dashboard',
      at: new Date().toISOString(),
      params: { installations, reps },
      job: {
        jobId,
        status: job.status,
        subagents: job.metrics?.subagents.spawned,
        wallClockMs: job.metrics?.wallClockMs,
      },
      steps,
      lanes,
      renderMs: { median: median(times), max: Math.max(...times), runs: times },
    };
    printTable([
      ['sub-agents', 'steps', 'lanes', 'render median', 'render max'],
      [
        String(job.metrics?.subagents.spawned ?? '–'),
        String(steps),
        String(lanes),
        `${median(times)} ms`,
        `${Math.max(...times)} ms`,
      ],
    ]);
    saveResult(args, 'dashboard', result);
  } finally {
    await browser.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Opens the job's page `reps` times: the time until its timeline is drawn, and its lanes. */
async function timeRenders(
  browser: Awaited<ReturnType<typeof launchChromium>>,
  pageUrl: string,
  jobId: string,
  reps: number,
): Promise<{ times: number[]; lanes: number }> {
  const times: number[] = [];
  let lanes = 0;
  for (let i = 0; i < reps; i++) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(pageUrl);
    await page.waitForSelector('table.jobs');
    await page.evaluate(`performance.clearMarks(); location.hash = '#/jobs/${jobId}'`);
    const started = Date.now();
    await page.waitForFunction(`performance.getEntriesByName('parl:timeline').length > 0`, undefined, {
      timeout: 120_000,
    });
    times.push(Date.now() - started);
    lanes = await page.locator('li[data-lane]').count();
    await page.close();
  }
  return { times, lanes };
}

/** The job's step records, counted page by page through the API. */
async function countSteps(call: <T>(path: string) => Promise<T>, jobId: string): Promise<number> {
  let steps = 0;
  let cursor: string | undefined;
  do {
    const page = await call<{ items: unknown[]; nextCursor?: string }>(
      `/v1/jobs/${jobId}/steps?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    steps += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return steps;
}
