/**
 * The `load` suite: one job each of 1,000, 10,000 and 50,000 one-call sub-agents (one a subtask) on
 * the embedded stack with the simulator, each job in a process of its own (./load-job.ts) so that
 * its peak RSS is its own; the provider's limits set not to bind (a high concurrency limit).
 *
 *   npm run bench -- --suite load [--sizes 1000,10000,50000] [--latency-scale 0]
 *                                 [--max-subagents 1000] [--limiter on|off] [--seed 1] [--repeat 1]
 *
 * `--repeat N` runs each size N times in its process: the first job on a fresh process (the row's
 * figures), then N - 1 more on the same stack, whose median overhead is the "warm" column.
 * Per job: status, wall-clock (accepted → stored result), sub-agents per second, peak RSS, agent
 * and step records written, DynamoDB requests per model call, overhead (wall-clock / critical path),
 * and whether the stored measures recompute from the stored steps. "phases ms" splits the
 * wall-clock (./load-bound phasesOf): accepted → first sub-agent call · first → last sub-agent call
 * start · last sub-agent call end → synthesizer call · synthesizer end → result stored.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import {
  type BenchArgs,
  integerListArg,
  median,
  numberArg,
  printTable,
  SuiteUsageError,
  saveResult,
} from '../common';
import type { LoadPhases } from './load-bound';
import type { LoadRow, WarmRun } from './load-job';
import type { ThreadUse } from './thread-use';

const MIB = 1024 * 1024;

/** Runs one job in a child process and returns its row (or a FAILED row with what it printed). */
async function runJob(
  size: number,
  latencyScale: number,
  maxSubagents: number,
  seed: number,
  limiter: 'on' | 'off',
  repeat: number,
): Promise<LoadRow> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      // The job measures its live heap after a full GC at each progress report.
      '--expose-gc',
      new URL('./load-job.ts', import.meta.url).pathname,
      String(size),
      String(latencyScale),
      String(maxSubagents),
      String(seed),
      limiter,
      String(repeat),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  const exit = await new Promise<string>((resolve) => {
    child.on('error', (error) => resolve(error.message));
    child.on('close', (code, signal) => resolve(`exit ${code ?? signal}`));
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as LoadRow;
  } catch {
    const why = exit;
    return {
      size,
      latencyScale,
      maxSubagents,
      status: 'CRASHED',
      error: `${why}: ${last.slice(0, 300)}`,
      wallClockMs: Date.now() - started,
      runMs: Date.now() - started,
      subagentsPerSecond: 0,
      criticalPathMs: 0,
      overhead: Number.NaN,
      peakRssBytes: 0,
      agentRecords: 0,
      stepRecords: 0,
      modelCalls: 0,
      dynamoRequests: 0,
      dynamoRequestsPerModelCall: Number.NaN,
      dynamoByOperation: {},
      measuresRecompute: false,
    };
  }
}

/** The median of `pick` over the row's warm runs (`n` of them), or "-" without any. */
function warmMedian(row: LoadRow, pick: (w: WarmRun) => number | undefined): string {
  const xs = (row.warm ?? []).map(pick).filter((x): x is number => x !== undefined);
  if (xs.length === 0) return '-';
  return `${median(xs).toFixed(2)} (n ${xs.length})`;
}

/** A job's phases as "to first call · start spread · to synthesis · after" in ms, or "-". */
function phasesCell(p: LoadPhases | undefined): string {
  if (!p) return '-';
  return [p.toFirstCallMs, p.callStartSpreadMs, p.toSynthesisMs, p.afterSynthesisMs]
    .map(Math.round)
    .join(' · ');
}

/** The threads' medians over the row's warm runs: "main busy · main GC ms · dynalite busy", or "-". */
function warmThreads(row: LoadRow): string {
  const all = (row.warm ?? []).map((w) => w.threads).filter((t): t is ThreadUse => t !== undefined);
  if (all.length === 0) return '-';
  const med = (pick: (t: ThreadUse) => number | undefined) => {
    const xs = all.map(pick).filter((x): x is number => x !== undefined);
    return xs.length === 0 ? Number.NaN : median(xs);
  };
  return `${med((t) => t.mainBusy).toFixed(2)} · ${Math.round(med((t) => t.mainGcMs))} · ${med((t) => t.dynaliteBusy).toFixed(2)}`;
}

/** The per-phase median over the row's warm runs, or undefined without any. */
function warmPhases(row: LoadRow): LoadPhases | undefined {
  const all = (row.warm ?? []).map((w) => w.phases).filter((p): p is LoadPhases => p !== undefined);
  if (all.length === 0) return undefined;
  const med = (pick: (p: LoadPhases) => number) => median(all.map(pick));
  return {
    toFirstCallMs: med((p) => p.toFirstCallMs),
    callStartSpreadMs: med((p) => p.callStartSpreadMs),
    toSynthesisMs: med((p) => p.toSynthesisMs),
    afterSynthesisMs: med((p) => p.afterSynthesisMs),
  };
}

export async function loadSuite(args: BenchArgs): Promise<void> {
  const sizes = integerListArg(args, 'sizes', '1000,10000,50000', { min: 1, max: 50_000 });
  const latencyScale = numberArg(args, 'latency-scale', 0);
  const maxSubagents = Math.max(1, Math.floor(numberArg(args, 'max-subagents', 1000)));
  const seed = numberArg(args, 'seed', 1);
  const limiter = args.limiter ?? 'on';
  const repeat = Math.floor(numberArg(args, 'repeat', 1));
  if (repeat < 1 || repeat > 50) throw new SuiteUsageError(`--repeat must be from 1 to 50, got ${repeat}`);
  if (limiter !== 'on' && limiter !== 'off')
    throw new SuiteUsageError(`--limiter must be on or off, got "${limiter}"`);
  const environment = [
    `${repeat === 1 ? 'one job' : `${repeat} jobs (the first in a fresh process, then ${repeat - 1} on the same stack)`} per size (${sizes.join(', ')}), one sub-agent a subtask, one model call each (generic workload, arithmetic)`,
    `simulator latency ×${latencyScale}, at most ${maxSubagents} sub-agents at once, provider limits set not to bind, shared limiter ${limiter}, seed ${seed}`,
    `machine: ${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB, shared with other work (load ${loadavg()[0]!.toFixed(1)} at start)`,
  ];
  console.log('environment:');
  for (const line of environment) console.log(`  ${line}`);
  const rows: LoadRow[] = [];
  for (const size of sizes) {
    const row = await runJob(size, latencyScale, maxSubagents, seed, limiter, repeat);
    rows.push(row);
    process.stderr.write(
      `${size}: ${row.status} wall ${row.wallClockMs} ms, ${row.subagentsPerSecond.toFixed(1)} sub-agents/s, peak RSS ${Math.round(row.peakRssBytes / MIB)} MiB\n`,
    );
  }
  printTable([
    [
      'sub-agents',
      'status',
      'wall s',
      'sub-agents/s',
      'peak RSS MiB',
      'live heap KB/agent',
      'agents',
      'steps',
      'DDB req/call',
      'overhead',
      'wall / bound',
      'warm overhead',
      'warm wall / bound',
      'phases ms',
      'warm phases ms',
      'warm main busy · GC ms · dynalite busy',
      'recompute',
    ],
    ...rows.map((r) => [
      String(r.size),
      r.status,
      (r.wallClockMs / 1000).toFixed(1),
      r.subagentsPerSecond.toFixed(1),
      String(Math.round(r.peakRssBytes / MIB)),
      r.liveHeapPerSubagentBytes === undefined ? '-' : (r.liveHeapPerSubagentBytes / 1024).toFixed(1),
      String(r.agentRecords),
      String(r.stepRecords),
      r.dynamoRequestsPerModelCall.toFixed(2),
      r.overhead.toFixed(2),
      r.overBound === undefined ? '-' : r.overBound.toFixed(2),
      warmMedian(r, (w) => w.overhead),
      warmMedian(r, (w) => w.overBound),
      phasesCell(r.phases),
      phasesCell(warmPhases(r)),
      warmThreads(r),
      r.measuresRecompute ? 'yes' : 'NO',
    ]),
  ]);
  const result = {
    suite: 'load',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, totalMemBytes: totalmem(), node: process.version },
    params: { sizes, latencyScale, maxSubagents, seed, limiter, repeat },
    environment,
    rows,
  };
  saveResult(args, 'load', result);
}
