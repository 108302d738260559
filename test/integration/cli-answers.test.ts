import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parlCommand } from './parl-process';

const root = new URL('../..', import.meta.url).pathname;
const env = { ...process.env, MOONSHOT_API_KEY: '', MOONSHOT_BASE_URL: '', FORCE_COLOR: '0' };
const parl = (args: string[]) =>
  spawnSync(...parlCommand(args), { cwd: root, env, encoding: 'utf8', timeout: 420_000 });

/** A loopback port nothing listens on (one just let go). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('a command line that answers (exit code, stream, a message naming the cause)', () => {
  let dir: string;
  const file = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(body));
    return path;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'parl-answers-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('names connection refused and the URL of a provider nobody listens on, and scores nothing', async () => {
    // Prepare: two subtasks for a provider on a closed loopback port
    const input = file('unreachable.json', { task: 'Answer', subtasks: ['Is 2+2 4?', 'Is ice cold?'] });
    const url = `http://127.0.0.1:${await closedPort()}/v1`;

    // Act
    const args = [
      'run',
      '--input',
      input,
      '--provider',
      'openai-compatible',
      '--base-url',
      url,
      '--model',
      'm',
    ];
    const text = parl(args);
    const json = parl([...args, '--json']);

    // Assess: exit 1, the reason on stdout names the cause and the URL; no reward, speedup or flags
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(/reason .*connection refused \(ECONNREFUSED\)/);
    expect(text.stdout).toContain(url);
    expect(text.stdout).toMatch(/unscored {4}no model call succeeded/);
    expect(text.stdout).not.toMatch(/^ {2}(steps|reward|flags) /m);
    expect(text.stdout).not.toMatch(/rPARL/);
    const doc = JSON.parse(json.stdout) as {
      status: string;
      metrics: { reward: number | null; unscoredReason?: string; flags?: unknown };
      steps: { status: string }[];
    };
    expect(json.status).toBe(1);
    expect(doc.status).toBe('FAILED');
    expect(doc.metrics).toMatchObject({ reward: null, unscoredReason: 'no model call succeeded' });
    expect(doc.metrics.flags).toBeUndefined();
    expect(doc.steps.length).toBeGreaterThan(0);
    expect(doc.steps.every((s) => s.status === 'FAILED')).toBe(true);
  }, 900_000);

  it('keeps stdout one JSON document with --json --verbose, the handler logs on stderr, and no SQLite warning', () => {
    // Act
    const out = parl(['run', '--installations', '2', '--latency-scale', '0', '--json', '--verbose']);

    // Assess
    expect(out.status, out.stderr).toBe(0);
    expect((JSON.parse(out.stdout) as { status: string }).status).toBe('SUCCEEDED');
    expect(out.stderr).toMatch(/"level": ?"INFO"/);
    expect(out.stderr).not.toMatch(/ExperimentalWarning/);
  }, 240_000);

  it('says when answers were cut at the output-token limit', () => {
    // Prepare: answers longer than 16 output tokens
    const input = file('cut.json', {
      task: 'Answer briefly',
      subtasks: ['Is the sky green in the late afternoon of a long summer day?'],
      maxOutputTokens: 16,
    });

    // Act
    const out = parl(['run', '--input', input, '--latency-scale', '0']);

    // Assess
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/cut {9}1 answer\(s\) cut at the output-token limit \(finish_reason length\)/);
  }, 240_000);

  it.each([
    [['policy', '--help'], /parl policy show: /],
    [['policy', 'show', '--help'], /parl policy show: /],
    [['trajectories', 'export', '-h'], /parl trajectories export: /],
    [['help', 'serve'], /parl serve: run the REST API/],
    [['help', 'jobs'], /parl jobs: follow a tenant's jobs/],
    [['jobs', 'watch', '--help'], /usage: parl jobs watch <id>/],
    [['tenants', 'create', '--help'], /parl tenants/],
    [['batch', 'submit', '--help'], /parl batch/],
    [['run', '--help'], /Options of run:/],
    [['--version'], /^parl \d+\.\d+\.\d+\n$/],
  ])(
    'parl %j prints its help (or version) on stdout and exits 0',
    (args, text) => {
      const out = parl(args);
      expect(out.status, out.stderr).toBe(0);
      expect(out.stdout).toMatch(text);
      expect(out.stderr).not.toMatch(/ExperimentalWarning/);
    },
    60_000,
  );

  it.each([
    [['jbos', 'list'], /unknown command "jbos"; did you mean "jobs"\?/],
    [['run', '--max-subagent', '3'], /unknown option --max-subagent; did you mean --max-subagents\?/],
    [['serve', '--prot', '3001'], /unknown option --prot; did you mean --port\?/],
    [['jobs', 'list', '--limt', '3', '--key', 'k'], /unknown option --limt; did you mean --limit\?/],
  ])(
    'parl %j exits 2 with "did you mean" on stderr',
    (args, message) => {
      const out = parl(args);
      expect(out.status).toBe(2);
      expect(out.stderr).toMatch(message);
      expect(out.stdout).toBe('');
    },
    60_000,
  );
});
