import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { criticalPathMs } from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';
import { parlCommand } from './parl-process';

const root = new URL('../..', import.meta.url).pathname;
const env = {
  ...process.env,
  MOONSHOT_API_KEY: '',
  MOONSHOT_BASE_URL: '',
  FORCE_COLOR: '0',
  PARL_API_KEY: '',
};

interface OtlpAttribute {
  key: string;
  value: {
    stringValue?: string;
    intValue?: number | string;
    arrayValue?: { values: { stringValue: string }[] };
  };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: OtlpAttribute[];
}
interface OtlpRequest {
  resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
}

const spansOf = (doc: OtlpRequest) => doc.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
const attr = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return (
    v?.stringValue ??
    (v?.intValue !== undefined ? Number(v.intValue) : v?.arrayValue?.values.map((x) => x.stringValue))
  );
};

/** A loopback OTLP/HTTP receiver: keeps every JSON export request it is sent. */
async function startReceiver(): Promise<{ server: Server; url: string; received: OtlpRequest[] }> {
  const received: OtlpRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces')
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** A loopback port nothing listens on (one just let go). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('parl jobs against a running parl serve, and its job log and OTLP export', () => {
  let dataDir: string;
  let child: ChildProcess;
  let serverLog = '';
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let key: string;
  let apiUrl: string;

  const parl = (args: string[], extraEnv: Record<string, string> = {}) =>
    spawnSync(...parlCommand(args), {
      cwd: root,
      env: { ...env, ...extraEnv },
      encoding: 'utf8',
      timeout: 120_000,
    });
  const jobs = (args: string[]) => parl(['jobs', ...args, '--data-dir', dataDir, '--key', key]);
  const submit = async (body: unknown) => {
    const res = await fetch(`${apiUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return ((await res.json()) as { jobId: string }).jobId;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parl-jobs-'));
    receiver = await startReceiver();
    const created = parl([
      'tenants',
      'create',
      '--name',
      'Jobs',
      '--budget-usd',
      '5',
      '--json',
      '--data-dir',
      dataDir,
    ]);
    key = (JSON.parse(created.stdout) as { apiKey: string }).apiKey;
    child = spawn(
      ...parlCommand([
        'serve',
        '--port',
        '0',
        '--data-dir',
        dataDir,
        '--latency-scale',
        '0.2',
        '--otlp-endpoint',
        receiver.url,
      ]),
      { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (d: Buffer) => {
      serverLog += d.toString();
    });
    const file = join(dataDir, 'serve.json');
    for (let i = 0; i < 5000 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
    apiUrl = (JSON.parse(readFileSync(file, 'utf8')) as { apiUrl: string }).apiUrl;
  }, 600_000);
  afterAll(async () => {
    const pid = existsSync(join(dataDir, 'serve.json'))
      ? (JSON.parse(readFileSync(join(dataDir, 'serve.json'), 'utf8')) as { pid: number }).pid
      : undefined;
    if (pid) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 200 && existsSync(join(dataDir, 'serve.json')); i++)
      await new Promise((r) => setTimeout(r, 100));
    child?.kill();
    receiver?.server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('watches a job to its end, then lists, shows (with a timeline), pages its steps and traces it', async () => {
    // Prepare
    const jobId = await submit({ task: 'Answer', subtasks: ['Is 2+2 4?', 'Is ice cold?', 'Is fire wet?'] });

    // Act
    const watched = jobs(['watch', jobId, '--interval-ms', '100']);
    const listed = jobs(['list', '--json']);
    const shown = jobs(['show', jobId, '--timeline', '--width', '40']);
    const steps = jobs(['steps', jobId, '--json']);
    const chrome = jobs(['trace', jobId, '--format', 'chrome']);
    const otlp = jobs(['trace', jobId, '--format', 'otlp']);

    // Assess: watch prints progress on stderr and the finished job on stdout
    expect(watched.status, watched.stderr).toBe(0);
    expect(watched.stderr).toMatch(/sub-agents/);
    expect(watched.stdout).toMatch(new RegExp(`job ${jobId} · SUCCEEDED`));
    const items = (JSON.parse(listed.stdout) as { items: { jobId: string }[] }).items;
    expect(items.map((j) => j.jobId)).toContain(jobId);
    const all = (JSON.parse(steps.stdout) as { steps: StepRecord[] }).steps;
    expect(all.length).toBeGreaterThan(3);
    // the timeline: one lane per agent, the critical ones starred, the critical path's length named
    const lanes = new Set(all.map((s) => `${s.stage} ${s.role === 'main' ? 'main' : 'sub '} ${s.agentId}`));
    const laneLines = shown.stdout.split('\n').filter((l) => /^[* ] \d+ (main|sub) /.test(l));
    expect(laneLines).toHaveLength(lanes.size);
    const mainLanes = [...lanes].filter((l) => l.includes(' main ')).length;
    const stagesWithSubs = new Set(all.filter((s) => s.role === 'sub').map((s) => s.stage)).size;
    expect(laneLines.filter((l) => l.startsWith('*')).length).toBe(mainLanes + stagesWithSubs);
    expect(shown.stdout).toContain(`CriticalPathMs ${criticalPathMs(all)} ms`);
    // Chrome Trace Event JSON: one complete event per step, plus the job
    const events = (JSON.parse(chrome.stdout) as { traceEvents: { ph: string; cat?: string }[] }).traceEvents;
    expect(events.filter((e) => e.ph === 'X' && e.cat?.startsWith('step'))).toHaveLength(all.length);
    // OTLP/JSON: the job's span and one child per step with gen_ai.* attributes
    const spans = spansOf(JSON.parse(otlp.stdout) as OtlpRequest);
    expect(spans).toHaveLength(all.length + 1);
    const rootSpan = spans.find((s) => !s.parentSpanId) as OtlpSpan;
    const children = spans.filter((s) => s.parentSpanId === rootSpan.spanId);
    expect(children).toHaveLength(all.length);
    expect(children.reduce((n, s) => n + Number(attr(s, 'gen_ai.usage.input_tokens')), 0)).toBe(
      all.reduce((n, s) => n + s.inputTokens, 0),
    );
    expect(children.every((s) => s.name === `chat ${attr(s, 'gen_ai.request.model')}`)).toBe(true);
    expect(children.every((s) => Array.isArray(attr(s, 'gen_ai.response.finish_reasons')))).toBe(true);
    // the server logged the job's start and end, and exported the same spans to the receiver
    // (spawnSync held the event loop: let the server's stderr and the receiver's requests in)
    const ended = new RegExp(`job ${jobId} · tenant \\S+ · SUCCEEDED in`);
    for (let i = 0; i < 100 && !ended.test(serverLog); i++) await new Promise((r) => setTimeout(r, 100));
    expect(serverLog).toMatch(new RegExp(`job ${jobId} · tenant \\S+ · started`));
    expect(serverLog).toMatch(ended);
    for (
      let i = 0;
      i < 100 && !receiver.received.some((r) => spansOf(r).some((s) => s.traceId === rootSpan.traceId));
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    const exported = receiver.received.flatMap(spansOf).filter((s) => s.traceId === rootSpan.traceId);
    expect(exported.map((s) => s.spanId).sort()).toEqual(spans.map((s) => s.spanId).sort());
  }, 900_000);

  it('cancels a running job, and refuses to cancel it again with exit 1 naming why', async () => {
    // Prepare: a job slow enough to still be running
    const jobId = await submit({
      task: 'Answer slowly',
      subtasks: Array.from({ length: 400 }, (_, i) => `Is ${i} even?`),
      maxSubagents: 1,
    });

    // Act
    const first = jobs(['cancel', jobId]);
    const again = jobs(['cancel', jobId]);

    // Assess
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`job ${jobId} · CANCELLED`));
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/409 .*has already ended: CANCELLED/);
  }, 120_000);

  it.each([
    [['jobs', 'show', 'x'], 2, /no API key: give --key/],
    [['jobs', 'show', '--key', 'parl_x_y'], 2, /missing job id/],
    [['jobs', 'frobnicate', '--key', 'k'], 2, /unknown subcommand "frobnicate"/],
    [
      ['jobs', 'trace', 'j', '--key', 'k', '--format', 'svg'],
      2,
      /--format must be "chrome" or "otlp", got "svg"/,
    ],
    [
      ['jobs', 'list', '--key', 'k', '--url', 'http://127.0.0.1:CLOSED'],
      1,
      /cannot reach the API at http:\/\/127\.0\.0\.1:\d+: connection refused/,
    ],
  ])(
    'parl %j exits %i and says why on stderr',
    async (args, code, message) => {
      // Act
      const port = String(await closedPort());
      const out = parl((args as string[]).map((a) => a.replace('CLOSED', port)));
      // Assess
      expect(out.status).toBe(code);
      expect(out.stderr).toMatch(message);
      expect(out.stdout).toBe('');
    },
    60_000,
  );

  it("answers an unknown job with exit 1 and the API's 404", () => {
    const out = jobs(['show', 'no-such-job']);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/404 job no-such-job not found/);
  }, 60_000);
});
