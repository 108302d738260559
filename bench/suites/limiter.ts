/**
 * The `limiter` suite: N independent limiter clients against the local table (dynalite, started
 * here), each with its own DynamoDB client and limiter, spread over worker threads; every client
 * loops acquire → a model call (a sleep) → release. It reports the calls granted per window against
 * the RPM, the DynamoDB requests per granted call, the wait, the most calls in flight and in one
 * window.
 *
 *   npm run bench -- --suite limiter [--clients 100,1000] [--scenarios tier1,seed-key,tier5]
 *                    [--workers 4] [--windows 1] [--tokens 100] [--<scenario>-window-ms <ms>]
 *
 * Scenarios: `tier1` (Moonshot tier 1: 50 in flight, 200 RPM, 2M TPM), `seed-key` (50 in flight,
 * 600 RPM), `tier5` (Moonshot tier 5: 1,000 in flight, 10,000 RPM, 5M TPM). Tier 1 and 600 RPM
 * run in real time; tier 5's "minute" is stretched ×4 (dynalite on the 2-core machine serves 100-200
 * requests a second before its round trips grow to seconds, not the ~550 a real-time tier 5 needs);
 * the model call (1-3 s a real minute) scales with it, so limits and latency keep their ratio. A
 * compressed window is possible (`--tier1-window-ms 6000`) but the table's round trips do not
 * compress: past a few per cent of the window they void tickets (a call must go within 1.5 %).
 * Calls estimate `--tokens` tokens (default 100, within tier 5's 500 a call), so the RPM binds, not the TPM.
 * Requests and calls are counted over a steady span (after every client's first turn in the queue,
 * which for 1,000 clients at 200 RPM is five minutes).
 */
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import { createKeyTable, startDynalite } from '#local/emulators/dynamo';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { pacingOf } from '#shared/domain/limiter-rules';
import type { LimiterPolicy, ProviderLimits } from '#shared/domain/provider-limits';
import { type BenchArgs, numberArg, printTable, saveResult } from '../common';
import type { LimiterBenchJob, LimiterBenchOutcome, LimiterBenchStart } from './limiter-worker';

const TABLE = 'LimiterBench';

interface Scenario {
  name: string;
  label: string;
  limits: Omit<ProviderLimits, 'windowMs'>;
  windowMs: number;
  /** Windows counted after the warm-up. */
  windows: number;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'tier1',
    label: 'moonshot-tier1: 50 in flight, 200 RPM',
    limits: { maxConcurrency: 50, rpm: 200, tpm: 2_000_000 },
    windowMs: 60_000,
    windows: 1,
  },
  {
    name: 'seed-key',
    label: '50 in flight, 600 RPM',
    limits: { maxConcurrency: 50, rpm: 600, tpm: undefined },
    windowMs: 60_000,
    windows: 1,
  },
  {
    name: 'tier5',
    label: 'moonshot-tier5: 1,000 in flight, 10,000 RPM',
    limits: { maxConcurrency: 1_000, rpm: 10_000, tpm: 5_000_000 },
    windowMs: 240_000,
    windows: 1,
  },
];

interface RunSettings {
  clients: number;
  workers: number;
  tokens: number;
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

/** The most grants in any window of `windowMs`. */
function maxPerWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[lo]! <= sorted[hi]! - windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** The most calls open at once. */
function maxInFlight(grants: readonly [number, number, number][]): number {
  const edges = grants.flatMap(([from, to]) => [
    [from, 1],
    [to, -1],
  ]);
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let best = 0;
  for (const [, d] of edges) {
    open += d!;
    best = Math.max(best, open);
  }
  return best;
}

/** Starts the workers, lets them run from `start` to `end`, and gathers what they measured. */
async function runWorkers(jobs: LimiterBenchJob[], timing: (now: number) => LimiterBenchStart) {
  const workers = jobs.map(
    (workerData) =>
      new Worker(new URL('./limiter-worker.ts', import.meta.url), {
        workerData,
        execArgv: ['--import', 'tsx'],
      }),
  );
  const ready = workers.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      }),
  );
  await Promise.all(ready);
  const start = timing(Date.now());
  const outcomes = workers.map(
    (w) =>
      new Promise<LimiterBenchOutcome>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }),
  );
  for (const w of workers) w.postMessage(start);
  try {
    return { start, outcomes: await Promise.all(outcomes) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

async function runScenario(endpoint: string, scenario: Scenario, s: RunSettings) {
  const limits: ProviderLimits = { ...scenario.limits, windowMs: scenario.windowMs };
  const scale = scenario.windowMs / 60_000;
  const latencyMs: [number, number] = [1_000 * scale, 3_000 * scale];
  const policy: LimiterPolicy = {
    limits,
    orchestratorShare: 0.1,
    leaseMs: latencyMs[1] * 10,
    cooldownMs: Math.max(1, Math.round(scenario.windowMs / 60)),
    breakerFailures: 5,
    breakerOpenMs: scenario.windowMs / 2,
  };
  // Warm-up: every client's first turn in the queue (N tickets) and one call; then the measured span.
  const queueMs = s.clients * pacingOf(limits).intervalMs;
  const warmupMs = queueMs + latencyMs[1] + 2_000;
  const spanMs = scenario.windows * scenario.windowMs;
  const pk = providerKeys.pk(`bench://limiter/${scenario.name}/${s.clients}/${Date.now()}`, 'bench');
  const per = Math.ceil(s.clients / s.workers);
  const jobs: LimiterBenchJob[] = [];
  for (let first = 0; first < s.clients; first += per)
    jobs.push({
      endpoint,
      tableName: TABLE,
      pk,
      policy,
      clients: Math.min(per, s.clients - first),
      firstClient: first,
      latencyMs,
      estimatedTokens: s.tokens,
      minTokens: Math.ceil(s.tokens / 4),
      pollMs: 250,
      maxWaitMs: warmupMs + spanMs + 60_000,
    });
  const { start, outcomes } = await runWorkers(jobs, (now) => ({
    startAt: now + 500,
    endAt: now + 500 + warmupMs + spanMs,
    staggerMs: Math.min(20_000, warmupMs / 4),
  }));
  return summarize(scenario, s, { from: start.endAt - spanMs, to: start.endAt }, outcomes);
}

function summarize(
  scenario: Scenario,
  s: RunSettings,
  span: { from: number; to: number },
  outcomes: LimiterBenchOutcome[],
) {
  const grants = outcomes.flatMap((o) => o.grants);
  const inSpan = (t: number) => t >= span.from && t < span.to;
  const measured = grants.filter(([at]) => inSpan(at));
  const count = (pick: (o: LimiterBenchOutcome) => number[]) =>
    outcomes.reduce((n, o) => n + pick(o).filter(inSpan).length, 0);
  const waits = measured.map(([, , w]) => w).sort((a, b) => a - b);
  const roundTrips = outcomes.flatMap((o) => o.roundTrips).sort((a, b) => a - b);
  const perWindow = (measured.length / (span.to - span.from)) * scenario.windowMs;
  const rpm = scenario.limits.rpm ?? Number.NaN;
  return {
    scenario: scenario.name,
    label: scenario.label,
    clients: s.clients,
    workers: Math.min(s.workers, s.clients),
    limits: scenario.limits,
    windowMs: scenario.windowMs,
    timeScale: scenario.windowMs / 60_000,
    measuredWindows: (span.to - span.from) / scenario.windowMs,
    granted: measured.length,
    grantedPerSecond: (measured.length / (span.to - span.from)) * 1_000,
    grantedPerWindow: perWindow,
    fractionOfRpm: perWindow / rpm,
    writesPerCall: count((o) => o.writes) / measured.length,
    readsPerCall: count((o) => o.reads) / measured.length,
    p50WaitMs: percentile(waits, 0.5),
    p99WaitMs: percentile(waits, 0.99),
    roundTripP50Ms: percentile(roundTrips, 0.5),
    roundTripP99Ms: percentile(roundTrips, 0.99),
    maxInFlight: maxInFlight(grants),
    maxPerWindow: maxPerWindow(
      grants.map(([at]) => at),
      scenario.windowMs,
    ),
    throttledRequests: outcomes.reduce((n, o) => n + o.throttledRequests, 0),
    throttleFailures: outcomes.reduce((n, o) => n + o.throttleFailures, 0),
    failures: outcomes.flatMap((o) => o.failures),
  };
}

export async function limiterSuite(args: BenchArgs): Promise<void> {
  const clientCounts = (args.clients ?? '100,1000').split(',').map(Number);
  const wanted = (args.scenarios ?? SCENARIOS.map((s) => s.name).join(',')).split(',');
  const scenarios = SCENARIOS.filter((s) => wanted.includes(s.name)).map((s) => ({
    ...s,
    windowMs: numberArg(args, `${s.name}-window-ms`, s.windowMs),
    windows: numberArg(args, 'windows', s.windows),
  }));
  if (scenarios.length === 0 || clientCounts.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error(
      `bench: --scenarios must name some of ${SCENARIOS.map((s) => s.name).join(', ')}; --clients positive integers`,
    );
    process.exit(2);
  }
  const settings = { workers: numberArg(args, 'workers', 4), tokens: numberArg(args, 'tokens', 100) };
  const dynamo = await startDynalite();
  const rows = [];
  try {
    await createKeyTable(dynamo.endpoint, 'us-east-1', TABLE);
    for (const scenario of scenarios)
      for (const clients of clientCounts) {
        const row = await runScenario(dynamo.endpoint, scenario, { ...settings, clients });
        rows.push(row);
        process.stderr.write(
          `${scenario.name} × ${clients}: ${row.grantedPerWindow.toFixed(1)} a window, ${row.writesPerCall.toFixed(2)} W / ${row.readsPerCall.toFixed(2)} R a call, round trip p50 ${row.roundTripP50Ms} ms p99 ${row.roundTripP99Ms} ms\n`,
        );
      }
  } finally {
    await dynamo.close();
  }
  report(args, settings, rows);
}

function report(
  args: BenchArgs,
  settings: Omit<RunSettings, 'clients'>,
  rows: ReturnType<typeof summarize>[],
) {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const windowOf = (r: (typeof rows)[number]) =>
    r.timeScale === 1
      ? '60 s'
      : `${r.windowMs / 1000} s (${r.timeScale < 1 ? `×${f(1 / r.timeScale, 0)} COMPRESSED` : `×${f(r.timeScale, 0)} STRETCHED`})`;
  printTable([
    [
      'scenario',
      'clients',
      'window',
      'granted/s',
      'per window',
      '% of RPM',
      'writes/call',
      'reads/call',
      'p50 wait',
      'p99 wait',
      'max in flight',
      'max in 1 window',
      'throttling failures',
    ],
    ...rows.map((r) => [
      `${r.scenario} (${r.label})`,
      String(r.clients),
      windowOf(r),
      f(r.grantedPerSecond),
      f(r.grantedPerWindow),
      `${f(r.fractionOfRpm * 100)} %`,
      f(r.writesPerCall, 2),
      f(r.readsPerCall, 2),
      `${f(r.p50WaitMs / 1000, 2)} s`,
      `${f(r.p99WaitMs / 1000, 2)} s`,
      String(r.maxInFlight),
      String(r.maxPerWindow),
      String(r.throttleFailures),
    ]),
  ]);
  console.log(
    `Each client: its own DynamoDB client and limiter; ${settings.workers} worker threads; calls of ${settings.tokens} estimated tokens lasting 1-3 s a real minute (scaled with the window). Counted over the window(s) after every client's first turn. "writes/call", "reads/call": DynamoDB requests sent (each attempt) per granted call. Waits grow with the clients (a queue of N): with N ≫ what the key allows per call's duration, callers queue.`,
  );
  const failures = rows.flatMap((r) => r.failures);
  if (failures.length > 0) console.log(`failures: ${failures.slice(0, 5).join('; ')}`);
  const result = {
    suite: 'limiter',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params: { ...settings, scenarios: rows.map((r) => ({ name: r.scenario, windowMs: r.windowMs })) },
    rows,
  };
  saveResult(args, 'limiter', result);
}
