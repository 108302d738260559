import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parlCommand } from './parl-process';

const root = new URL('../..', import.meta.url).pathname;
const env = { ...process.env, MOONSHOT_API_KEY: '', MOONSHOT_BASE_URL: '', FORCE_COLOR: '0' };

const parl = (args: string[]) =>
  spawnSync(...parlCommand(args), { cwd: root, env, encoding: 'utf8', timeout: 120_000 });

interface Server {
  child: ChildProcess;
  url: string;
  pid: number;
}

/** Starts `parl serve` on a free port and waits for its serve.json. */
async function serve(dataDir: string, extra: string[] = []): Promise<Server> {
  const child = spawn(...parlCommand(['serve', '--port', '0', '--data-dir', dataDir, ...extra]), {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const file = join(dataDir, 'serve.json');
  const spawnedAt = new Date().toISOString();
  for (let i = 0; i < 1200; i++) {
    // A killed server leaves its file behind: wait for this server's own.
    const info = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { apiUrl: string; pid: number; startedAt: string })
      : undefined;
    if (info && info.startedAt >= spawnedAt) return { child, url: info.apiUrl, pid: info.pid };
    if (child.exitCode !== null) throw new Error(`parl serve exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`parl serve did not start: ${stderr}`);
}

const stop = (server: Server, signal: NodeJS.Signals = 'SIGTERM') =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 20_000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // The server is the node process that wrote serve.json (npx's child).
    const poll = setInterval(() => {
      try {
        process.kill(server.pid, 0);
      } catch {
        clearInterval(poll);
        done();
      }
    }, 100);
    process.kill(server.pid, signal);
  });

const json = async (url: string, init: RequestInit = {}) => {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('parl serve and parl tenants on a data directory', () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'parl-serve-'));
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps tenants and jobs across restarts, acts on the running server, and closes jobs a dead server left', async () => {
    // Prepare: a tenant created with no server running (the files directly)
    const created = parl([
      'tenants',
      'create',
      '--name',
      'Acme',
      '--budget-usd',
      '5',
      '--json',
      '--data-dir',
      dataDir,
    ]);
    expect(created.status, created.stderr).toBe(0);
    const { tenantId, apiKey } = JSON.parse(created.stdout) as { tenantId: string; apiKey: string };
    expect(apiKey).toMatch(new RegExp(`^parl_${tenantId}_`));

    // Act 1: the server sees it; a second tenant is created through the running server
    let server = await serve(dataDir, ['--latency-scale', '0']);
    const second = parl([
      'tenants',
      'create',
      '--name',
      'Beta',
      '--budget-usd',
      '1',
      '--json',
      '--data-dir',
      dataDir,
    ]);
    expect(second.status, second.stderr).toBe(0);
    const beta = JSON.parse(second.stdout) as { apiKey: string };
    const headers = { 'x-api-key': apiKey, 'content-type': 'application/json' };
    const posted = await json(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ task: 'Answer', subtasks: ['Is 2+2 4?', 'Is ice cold?'] }),
    });
    expect(posted.status).toBe(202);
    const jobId = posted.body.jobId as string;
    let status = '';
    for (let i = 0; i < 400 && !['SUCCEEDED', 'FAILED'].includes(status); i++) {
      status = String((await json(`${server.url}/v1/jobs/${jobId}`, { headers })).body.status);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe('SUCCEEDED');
    expect((await json(`${server.url}/v1/jobs`, { headers: { 'x-api-key': beta.apiKey } })).status).toBe(200);
    const listed = parl(['tenants', 'list', '--json', '--data-dir', dataDir]);
    // …and the local tenant, which parl serve makes to mint its dashboard's key.
    expect(
      (JSON.parse(listed.stdout) as { tenants: { name: string; keyHash?: string }[] }).tenants
        .map((t) => t.name)
        .sort(),
    ).toEqual(['Acme', 'Beta', 'local']);
    expect(listed.stdout).not.toMatch(/keyHash/);
    await stop(server);
    expect(existsSync(join(dataDir, 'serve.json'))).toBe(false);

    // Act 2: a restarted server still has the job; a job left running by a killed server is closed
    server = await serve(dataDir, ['--latency-scale', '20']);
    const again = await json(`${server.url}/v1/jobs/${jobId}`, { headers });
    expect(again.body).toMatchObject({ jobId, status: 'SUCCEEDED' });
    const slow = await json(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ task: 'Answer slowly', subtasks: ['Is 2+2 4?'] }),
    });
    expect(slow.status).toBe(202);
    await stop(server, 'SIGKILL');
    server = await serve(dataDir, ['--latency-scale', '0']);
    const orphan = await json(`${server.url}/v1/jobs/${slow.body.jobId as string}`, { headers });
    expect(orphan.body).toMatchObject({
      status: 'FAILED',
      error: 'the local server stopped while the job was running',
    });
    const usage = await json(`${server.url}/v1/usage`, { headers });
    expect((usage.body.budget as { reservedUsd: number }).reservedUsd).toBe(0);
    await stop(server);
  }, 240_000);

  it('runs parl batch submit and status on the running server: one job per message, one usage record each', async () => {
    // Prepare: a tenant, a file of two job requests, and no server yet
    const batchDir = mkdtempSync(join(tmpdir(), 'parl-serve-batch-'));
    try {
      const created = parl([
        'tenants',
        'create',
        '--name',
        'Batch',
        '--budget-usd',
        '5',
        '--json',
        '--data-dir',
        batchDir,
      ]);
      expect(created.status, created.stderr).toBe(0);
      const { tenantId, apiKey } = JSON.parse(created.stdout) as { tenantId: string; apiKey: string };
      const file = join(batchDir, 'jobs.jsonl');
      writeFileSync(
        file,
        '{"task":"Answer","subtasks":["Is 2+2 4?"]}\n{"task":"Answer","subtasks":["Is ice cold?"]}\n',
      );
      const idle = parl(['batch', 'status', '--data-dir', batchDir]);
      expect(idle.status).toBe(1);
      expect(idle.stderr).toMatch(/no parl serve with a batch intake is running/);

      // Act
      const server = await serve(batchDir, ['--latency-scale', '0', '--batch-visibility-timeout', '1']);
      try {
        const sent = parl(['batch', 'submit', file, '--tenant', tenantId, '--json', '--data-dir', batchDir]);
        expect(sent.status, sent.stderr).toBe(0);
        const report = JSON.parse(sent.stdout) as { sent: { messages: number }; jobs: { jobId: string }[] };
        const headers = { 'x-api-key': apiKey };
        const statuses: string[] = [];
        for (const { jobId } of report.jobs) {
          let status = '';
          for (let i = 0; i < 600 && !['SUCCEEDED', 'FAILED'].includes(status); i++) {
            const got = await json(`${server.url}/v1/jobs/${jobId}`, { headers });
            status = got.status === 200 ? String(got.body.status) : '';
            await new Promise((r) => setTimeout(r, 50));
          }
          statuses.push(status);
        }
        let status: Record<string, number> = {};
        for (let i = 0; i < 100; i++) {
          const out = parl(['batch', 'status', '--json', '--data-dir', batchDir]);
          expect(out.status, out.stderr).toBe(0);
          status = JSON.parse(out.stdout) as Record<string, number>;
          if (status.queueDepth === 0 && status.inFlight === 0) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const usage = await json(`${server.url}/v1/usage`, { headers });

        // Assess
        expect(report.sent.messages).toBe(2);
        expect(new Set(report.jobs.map((j) => j.jobId)).size).toBe(2);
        expect(statuses).toEqual(['SUCCEEDED', 'SUCCEEDED']);
        expect(status).toEqual({ queueDepth: 0, inFlight: 0, dlqDepth: 0, jobsStarted: 2 });
        expect(usage.body).toMatchObject({ jobs: 2 });

        // --wait: a good message, a poison one (unknown tenant) and an upload; the command waits
        const mixed = join(batchDir, 'mixed.jsonl');
        writeFileSync(
          mixed,
          `{"tenantId":"${tenantId}","request":{"task":"Answer","subtasks":["Is 3+3 6?"]}}\n{"tenantId":"t-nobody000000","request":{"task":"Answer"}}\n`,
        );
        const waited = parl([
          'batch',
          'submit',
          mixed,
          '--wait',
          '--json',
          '--quiet',
          '--data-dir',
          batchDir,
        ]);
        const csv = join(batchDir, 'checks.csv');
        writeFileSync(csv, 'id,prompt,expected\nq1,What is 2 + 2?,4\n');
        const uploaded = parl([
          'batch',
          'submit',
          csv,
          '--tenant',
          tenantId,
          '--wait',
          '--json',
          '--data-dir',
          batchDir,
        ]);
        expect(waited.status).toBe(1); // not every job SUCCEEDED: the poison one was never accepted
        const waitedReport = JSON.parse(waited.stdout) as {
          ended: { status: string; jobId: string }[];
          jobs: { tenantId: string }[];
          rejected: { tenantId: string; messageId: string }[];
        };
        expect(waitedReport.ended.map((e) => e.status).sort()).toEqual(['NOT_ACCEPTED', 'SUCCEEDED']);
        // The poison message is reported as rejected, never with a job id.
        expect(waitedReport.rejected).toEqual([
          { tenantId: 't-nobody000000', messageId: expect.any(String) },
        ]);
        expect(waitedReport.jobs.map((j) => j.tenantId)).toEqual([tenantId]);
        expect(waitedReport.ended.find((e) => e.status === 'NOT_ACCEPTED')?.jobId).toBe('');
        expect(uploaded.status, uploaded.stderr).toBe(0);
        const up = JSON.parse(uploaded.stdout) as {
          jobs: { jobId: string }[];
          ended: { jobId: string; status: string }[];
        };
        expect(up.ended).toEqual([{ jobId: up.jobs[0]?.jobId, status: 'SUCCEEDED' }]);
        expect(uploaded.stderr).toMatch(/waiting: 1\/1 job\(s\) ended/);
        const after = JSON.parse(parl(['batch', 'status', '--json', '--data-dir', batchDir]).stdout);
        expect(after).toMatchObject({ dlqDepth: 1, jobsStarted: 4 });
      } finally {
        await stop(server);
      }
    } finally {
      rmSync(batchDir, { recursive: true, force: true });
    }
  }, 240_000);

  it('runs parl batch submit on an embedded stack without a server, for a throwaway tenant', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'parl-batch-embedded-'));
    try {
      const file = join(dir, 'checks.csv');
      writeFileSync(file, 'id,prompt,expected\nq1,What is 2 + 2?,4\nq2,What is 3 + 3?,6\n');
      // Act
      const out = parl([
        'batch',
        'submit',
        file,
        '--json',
        '--quiet',
        '--latency-scale',
        '0',
        '--data-dir',
        dir,
      ]);
      // Assess
      expect(out.status, out.stderr).toBe(0);
      const report = JSON.parse(out.stdout) as {
        sent: { upload?: { key: string } };
        jobs: { status: string; subtasks?: number }[];
        status: Record<string, number>;
        tenant: { tenantId: string; usage: { jobs: number }; spentUsd: number };
      };
      expect(report.sent.upload?.key).toBe(`incoming/${report.tenant.tenantId}/checks.csv`);
      expect(report.jobs).toEqual([expect.objectContaining({ status: 'SUCCEEDED', subtasks: 2 })]);
      expect(report.status).toEqual({ queueDepth: 0, inFlight: 0, dlqDepth: 0, jobsStarted: 1 });
      expect(report.tenant.usage.jobs).toBe(1);
      expect(report.tenant.spentUsd).toBeGreaterThan(0);
      // Nothing is kept: the throwaway tenant lived in memory
      expect(existsSync(join(dir, 'dynamodb'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses bad batch commands with exit 2 and a message', () => {
    const missing = parl(['batch', 'submit', join(dataDir, 'nope.jsonl'), '--data-dir', dataDir]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nope.jsonl cannot be read: ENOENT/);
    const unknown = parl(['batch', 'resubmit']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown batch command "resubmit"/);
    const help = parl(['batch', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/parl batch submit <file.jsonl\|file.csv>/);
  }, 240_000); // three CLI processes: on a loaded 2-core machine each start takes 20 s or more

  it('refuses bad tenant commands with exit 2 and a message', () => {
    const out = parl(['tenants', 'create', '--name', 'x', '--budget-usd=-3', '--data-dir', dataDir]);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/--budget-usd must be a number from 0 to 1000000/);
    const missing = parl(['tenants', 'revoke', '--data-dir', dataDir]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/needs a tenant id/);
  }, 180_000);
});
