import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parlCommand } from './parl-process';

const root = new URL('../..', import.meta.url).pathname;
const env = { ...process.env, MOONSHOT_API_KEY: '', MOONSHOT_BASE_URL: '', FORCE_COLOR: '0' };

const parl = (args: string[]) =>
  spawnSync(...parlCommand(args), { cwd: root, env, encoding: 'utf8', timeout: 180_000 });

/** `parl run --data-dir` keeps what the policy learned; `policy show` and `trajectories export` read it. */
describe('the policy across parl runs in one data directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'parl-learn-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('learns from each run and exports one trajectory per job', () => {
    // Act: two runs that learn, in the same data directory
    const runs = [1, 2].map((seed) =>
      parl([
        'run',
        '--policy',
        'learn',
        '--installations',
        '6',
        '--seed',
        String(seed),
        '--latency-scale',
        '0',
        '--data-dir',
        dataDir,
        '--json',
        '--quiet',
      ]),
    );
    const shown = parl(['policy', 'show', '--data-dir', dataDir, '--json']);
    const exported = parl(['trajectories', 'export', '--data-dir', dataDir]);
    const empty = parl(['policy', 'show', '--data-dir', join(dataDir, 'none'), '--json']);
    // Assess
    for (const run of runs) expect(run.status, run.stderr).toBe(0);
    const jobIds = runs.map((r) => (JSON.parse(r.stdout) as { jobId: string }).jobId);
    expect(shown.status, shown.stderr).toBe(0);
    const view = JSON.parse(shown.stdout) as {
      tenantId: string;
      policies: { taskClass: string; jobs: number; arms: { count: number }[] }[];
    };
    expect(view.tenantId).toBe('local');
    expect(view.policies).toHaveLength(1);
    expect(view.policies[0]?.taskClass).toBe('bma-compliance');
    expect(view.policies[0]?.jobs).toBe(2);
    expect(view.policies[0]?.arms.reduce((n, a) => n + a.count, 0)).toBe(2);
    expect(exported.status, exported.stderr).toBe(0);
    const lines = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { jobId: string });
    expect(lines.map((l) => l.jobId)).toEqual(jobIds);
    expect(JSON.parse(empty.stdout)).toEqual({ tenantId: 'local', policies: [] });
  }, 300_000);

  it('refuses an unknown subcommand or flag with a usage message and exit code 2', () => {
    const bad = parl(['policy', 'list']);
    const badFlag = parl(['trajectories', 'export', '--tenat', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown subcommand "list".*parl policy show/);
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toMatch(/--tenat/);
  });
});
