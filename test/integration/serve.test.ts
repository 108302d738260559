import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const env = { ...process.env, MOONSHOT_API_KEY: '', MOONSHOT_BASE_URL: '', FORCE_COLOR: '0' };

const parl = (args: string[]) =>
  spawnSync('npx', ['parl', ...args], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });

interface Server {
  child: ChildProcess;
  url: string;
  pid: number;
}

/** Starts `parl serve` on a free port and waits for its serve.json. */
async function serve(dataDir: string, extra: string[] = []): Promise<Server> {
  const child = spawn('npx', ['parl', 'serve', '--port', '0', '--data-dir', dataDir, ...extra], {
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
    expect(
      (JSON.parse(listed.stdout) as { tenants: { name: string; keyHash?: string }[] }).tenants
        .map((t) => t.name)
        .sort(),
    ).toEqual(['Acme', 'Beta']);
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

  it('refuses bad tenant commands with exit 2 and a message', () => {
    const out = parl(['tenants', 'create', '--name', 'x', '--budget-usd=-3', '--data-dir', dataDir]);
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/--budget-usd must be a number from 0 to 1000000/);
    const missing = parl(['tenants', 'revoke', '--data-dir', dataDir]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/needs a tenant id/);
  });
});
