import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { computeJobMetrics } from '#shared/domain/measures';
import type { JobMetrics, StepRecord } from '#shared/domain/types';
import { parlCommand } from './parl-process';

const root = new URL('../..', import.meta.url).pathname;
/** The environment of a user without a Moonshot key: the CLI starts the simulator. */
const env = { ...process.env, MOONSHOT_API_KEY: '', MOONSHOT_BASE_URL: '', FORCE_COLOR: '0' };

describe('npm start', () => {
  it('runs the default demo and prints one JSON document whose measures recompute from its steps', () => {
    // Act
    const out = spawnSync('npm', ['start', '--', '--json', '--quiet'], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    // Assess
    expect(out.status, out.stderr).toBe(0);
    const report = JSON.parse(out.stdout) as {
      status: string;
      mode: string;
      acceptedAt: string;
      finishedAt: string;
      metrics: JobMetrics;
      steps: StepRecord[];
      result: { summary: Record<string, number> };
    };
    expect(report.status).toBe('SUCCEEDED');
    expect(report.mode).toBe('parl');
    const m = report.metrics;
    expect(m.stepSpeedup).toBeGreaterThanOrEqual(10);
    expect(m.subagents.spawned).toBe(100);
    const again = computeJobMetrics({
      steps: report.steps,
      spawned: m.subagents.spawned,
      completed: m.subagents.completed,
      correct: report.result.summary.correct ?? 0,
      scored: report.result.summary.scored ?? 0,
      acceptedAt: report.acceptedAt,
      finishedAt: report.finishedAt,
      weights: m.weights,
    });
    // The AWS cost comes from the cost model (test/unit/aws-cost.test.ts), on top of the token cost.
    const { aws, awsCostUsd, totalCostUsd } = m;
    expect({ ...again, provider: m.provider, aws, awsCostUsd, totalCostUsd }).toEqual(m);
    expect(totalCostUsd).toBeCloseTo(m.costUsd + (awsCostUsd ?? Number.NaN), 8);
    expect(m.provider).toMatchObject({ name: 'moonshot', model: 'kimi-k2.5', limiter: true });
  }, 180_000); // the demo's process is given 120 s; on a loaded machine the test waits for it
});

describe('parl run with bad input', () => {
  it.each([
    [['run', '--task', ''], /task: must not be empty/],
    [['run', '--max-subagents', '0'], /--max-subagents must be an integer from 1 to 50000/],
    [['run', '--mode', 'fast'], /--mode must be "parl" or "sequential"/],
    [['run', '--input', '/nonexistent/job.json'], /cannot be read: ENOENT/],
  ])(
    '%j exits 2 with a message and starts nothing',
    (argv, message) => {
      const out = spawnSync(...parlCommand(argv), { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
      expect(out.status).toBe(2);
      expect(out.stderr).toMatch(message);
      expect(out.stderr).toMatch(/nothing was started/);
      expect(out.stderr).not.toMatch(/local stack up/);
      expect(out.stdout).toBe('');
    },
    120_000,
  );

  it('prints help', () => {
    const out = spawnSync('npx', ['parl', '--help'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/--max-subagents N/);
    expect(out.stdout).toMatch(/MOONSHOT_API_KEY/);
  }, 120_000);
});

describe('parl started by an older Node', () => {
  it("runs again with the project's own Node 22 (the machine's node first on PATH, as outside npm)", () => {
    // Prepare: PATH without node_modules/.bin, so `node` is the machine's own (Node 20 here)
    const path = (process.env.PATH ?? '')
      .split(':')
      .filter((dir) => !dir.includes('node_modules'))
      .join(':');
    const machineNode = spawnSync('node', ['--version'], { env: { ...env, PATH: path }, encoding: 'utf8' });
    // Act
    const out = spawnSync(
      'node',
      [`${root}bin/parl.mjs`, 'run', '--installations', '2', '--latency-scale', '0', '--json', '--quiet'],
      { cwd: '/', env: { ...env, PATH: path }, encoding: 'utf8', timeout: 120_000 },
    );
    // Assess: the stack needs Node 22 (node:sqlite, Promise.withResolvers); the job ran
    expect(machineNode.status).toBe(0);
    expect(out.status, `${machineNode.stdout.trim()}: ${out.stderr}`).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ status: 'SUCCEEDED', plan: { agents: 2 } });
  });
});
