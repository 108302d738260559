/**
 * The `peers` suite: the same fan-out through PARL Swarm, LangGraph.js and a bare Promise.all +
 * p-limit, in the same run, against the same endpoint (the simulator over HTTP, on a thread of its
 * own, as a provider is another machine), at the same width.
 *
 *   npm run bench -- --suite peers [--subtasks 200] [--concurrency 50] [--reps 3]
 *                                  [--warmup 1] [--latency-scale 1] [--seed 1]
 *   npm run bench -- --suite peers --widths 100,300,1000 [--reps 3] …
 *
 * `--widths` runs several fan-outs in one run (one stack, one simulator), each of N subtasks N at
 * once, one after another, and says ours against each peer at every width.
 *
 * The job: `subtasks` arithmetic questions of the generic workload (one model call each, answers
 * known), `concurrency` at once, then one synthesizer call; ours runs it as a job on the embedded
 * stack (Step Functions Map with MaxConcurrency, the shared limiter on with limits that do not bind,
 * every step recorded in DynamoDB), the peers in-process (bench/peers/fan-out.ts). Each run is
 * measured against its own schedule bound: plan + max(slowest sub-agent, total work / slots) +
 * aggregate, from its own call durations (ours: from its recorded steps); wall / bound is its
 * overhead (1.0 is a perfect scheduler). The frameworks first take turns through `warmup`
 * unmeasured rounds (handlers loaded, tables warm, connections open), then through the measured
 * reps. Ours against each peer: the ratio of median wall-clocks, and the ratio of means with a 95 %
 * bootstrap interval and a paired t-test, the reps as pairs (`bench/report/peers-compare.ts`):
 * slower, faster, or not told apart. The frameworks send the same requests (our sub-agent's and
 * synthesizer's prompts, word for word), so the simulator models the same latencies for each:
 * every run's modelled latencies are recorded, and a width where they differ is flagged as not like
 * for like.
 */
import { cpus, loadavg } from 'node:os';
import OpenAI from 'openai';
import { EmbeddedStack } from '#local/runtime';
import { startSimulatorThread } from '#local/simulator/thread';
import { parseJobRequest } from '#shared/domain/request';
import {
  type BenchArgs,
  integerListArg,
  numberArg,
  printTable,
  SuiteUsageError,
  saveResult,
} from '../common';
import { type PeerSubtask, runLangGraph, runPromiseAll, scheduleBoundMs } from '../peers/fan-out';
import { saveBesides } from '../report/artifacts';
import { barChart } from '../report/charts';
import { versusLine, versusPeers } from '../report/peers-compare';
import { mean, summarize } from '../report/stats';

const FRAMEWORKS = ['parl-swarm', 'langgraph', 'promise-all'] as const;

/**
 * Unmeasured rounds before the reps (handlers loaded, connections open). One is enough for the
 * verdict: with thirty, ours was as much slower than LangGraph.js as with one (+39 ms a run at 100
 * sub-agents, 2026-12-07), so the gap is not ours' code still being compiled by V8.
 */
const DEFAULT_WARMUP_ROUNDS = 1;
type Framework = (typeof FRAMEWORKS)[number];

/** One fan-out of a run: how many subtasks, how many at once. */
interface FanOut {
  subtasks: number;
  concurrency: number;
}

interface PeerRow {
  framework: Framework;
  subtasks: number;
  rep: number;
  wallClockMs: number;
  boundMs: number;
  overhead: number;
  calls: number;
  correct: number;
  /**
   * The latencies the simulator modelled for the run's calls, summed, and the synthesis's alone:
   * equal across frameworks when they asked the same (the jitter comes from a request's content).
   */
  modelledMs: number;
  synthesisModelledMs: number;
}

function questions(n: number, seed: number): (PeerSubtask & { expected: string })[] {
  return Array.from({ length: n }, (_, i) => {
    const a = ((seed * 31 + i * 7) % 90) + 10;
    const b = ((seed * 17 + i * 13) % 90) + 10;
    return {
      id: `q${String(i + 1).padStart(4, '0')}`,
      prompt: `What is ${a} + ${b}?`,
      expected: String(a + b),
    };
  });
}

/** A run as measured, before the simulator's modelled latencies are added. */
type MeasuredRun = Omit<PeerRow, 'modelledMs' | 'synthesisModelledMs'>;

/** One run's job: the task, its subtasks, how many at once, which rep. */
interface RunJob {
  task: string;
  items: PeerSubtask[];
  slots: number;
  n: number;
  rep: number;
}

/** One run of the fan-out through PARL Swarm's own workflow on the embedded stack. */
async function runParlSwarm(
  stack: EmbeddedStack,
  { task, items, slots, n, rep }: RunJob,
): Promise<MeasuredRun> {
  const request = parseJobRequest(
    { task, subtasks: items, maxSubagents: slots, itemsPerAgent: 1 },
    { maxSubagentsCap: Math.max(1000, slots) },
  );
  const { job, steps } = await stack.run(request);
  if (!job.metrics) throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
  const sub = new Map<string, number>();
  for (const s of steps.filter((s) => s.role === 'sub'))
    sub.set(s.agentId, (sub.get(s.agentId) ?? 0) + s.durationMs);
  const main = steps.filter((s) => s.role === 'main');
  const planMs = main.filter((s) => s.agentId !== 'synthesizer').reduce((a, s) => a + s.durationMs, 0);
  const aggregateMs = main.filter((s) => s.agentId === 'synthesizer').reduce((a, s) => a + s.durationMs, 0);
  const boundMs = scheduleBoundMs({ planMs, subagentMs: [...sub.values()], aggregateMs }, slots);
  const wall = job.metrics.wallClockMs;
  const correct = Math.round((job.metrics.rPerf ?? 0) * n);
  return {
    framework: 'parl-swarm',
    subtasks: n,
    rep,
    wallClockMs: wall,
    boundMs,
    overhead: wall / boundMs,
    calls: steps.length,
    correct,
  };
}

/** One run of the fan-out through a peer, in this process. */
async function runPeer(
  client: OpenAI,
  framework: Exclude<Framework, 'parl-swarm'>,
  { task, items, slots, n, rep }: RunJob,
): Promise<MeasuredRun> {
  const run = await (framework === 'langgraph' ? runLangGraph : runPromiseAll)(
    client,
    'kimi-k2.5',
    task,
    items,
    slots,
  );
  const boundMs = scheduleBoundMs(
    {
      planMs: 0,
      subagentMs: run.calls.filter((c) => c.role === 'sub').map((c) => c.durationMs),
      aggregateMs: run.calls.filter((c) => c.role === 'main').reduce((a, c) => a + c.durationMs, 0),
    },
    slots,
  );
  return {
    framework,
    subtasks: n,
    rep,
    wallClockMs: run.wallClockMs,
    boundMs,
    overhead: run.wallClockMs / boundMs,
    calls: run.calls.length,
    correct: n, // the peers do not score; the answers are the simulator's, as ours
  };
}

/** The run's fan-outs: `--widths a,b,…` (each N subtasks, N at once), else `--subtasks` at `--concurrency`. */
function fanOutsOf(args: BenchArgs): FanOut[] {
  if (args.widths === undefined)
    return [
      {
        subtasks: Math.max(1, numberArg(args, 'subtasks', 200)),
        concurrency: Math.max(1, numberArg(args, 'concurrency', 50)),
      },
    ];
  if (args.subtasks !== undefined || args.concurrency !== undefined)
    throw new SuiteUsageError(
      '--widths sets both the subtasks and the concurrency: leave out --subtasks and --concurrency',
    );
  const widths = integerListArg(args, 'widths', '', { min: 1, max: 10_000 });
  return [...new Set(widths)].sort((a, b) => a - b).map((w) => ({ subtasks: w, concurrency: w }));
}

export async function peersSuite(args: BenchArgs): Promise<void> {
  const fanOuts = fanOutsOf(args);
  const reps = Math.max(1, numberArg(args, 'reps', 3));
  const latencyScale = numberArg(args, 'latency-scale', 1);
  const seed = numberArg(args, 'seed', 1);
  const warmup = Math.max(1, numberArg(args, 'warmup', DEFAULT_WARMUP_ROUNDS));
  const widest = Math.max(...fanOuts.map((f) => f.concurrency));
  const environment = [
    `${fanOuts.map((f) => `${f.subtasks} subtasks ${f.concurrency} at once`).join(', then ')} (one model call each, generic workload) + 1 synthesizer call, in every framework`,
    `one simulator over HTTP (its own thread) for all three, latency ×${latencyScale}, seed ${seed}; ${warmup} unmeasured rounds, then ${reps} reps; frameworks take turns`,
    `machine: ${cpus().length} cores shared with other work (load ${loadavg()[0]!.toFixed(1)} at start): figures are noisy`,
  ];
  console.log('environment:');
  for (const line of environment) console.log(`  ${line}`);

  const sim = await startSimulatorThread({ seed, latencyScale, recordLatencies: true });
  const stack = await EmbeddedStack.boot({
    llm: { baseUrl: sim.baseUrl, apiKey: 'simulator' },
    env: {
      PARL_PROVIDER_MAX_CONCURRENCY: String(Math.max(1000, widest * 2)),
      PARL_PROVIDER_RPM: '1000000',
      PARL_PROVIDER_TPM: '1000000000',
    },
  });
  const client = new OpenAI({ baseURL: sim.baseUrl, apiKey: 'simulator', maxRetries: 0 });
  const rows: PeerRow[] = [];
  let modelledSoFar = 0;
  /** The latencies modelled since the last run's (the simulator keeps them all, in order). */
  const modelledOfRun = async () => {
    const run = await sim.modelledLatencies(modelledSoFar);
    modelledSoFar += run.length;
    return { modelledMs: run.reduce((a, ms) => a + ms, 0), synthesisModelledMs: run.at(-1) ?? 0 };
  };
  const runOnce = async (
    framework: Framework,
    rep: number,
    { subtasks: n, concurrency: slots }: FanOut,
    items: PeerSubtask[],
  ): Promise<PeerRow> => {
    const job = { task: `Answer ${n} arithmetic questions`, items, slots, n, rep };
    const measured =
      framework === 'parl-swarm' ? await runParlSwarm(stack, job) : await runPeer(client, framework, job);
    return { ...measured, ...(await modelledOfRun()) };
  };
  try {
    for (const fanOut of fanOuts) {
      const subtasks = questions(fanOut.subtasks, seed);
      // Unmeasured rounds first: handlers loaded, tables warm, connections open.
      for (let round = 1; round <= warmup; round++) {
        for (const framework of FRAMEWORKS)
          await runOnce(framework, 0, fanOut, subtasks.slice(0, fanOut.concurrency));
        if (round % 10 === 0 || round === warmup)
          process.stderr.write(`${fanOut.subtasks} subtasks, warm-up: ${round} of ${warmup} rounds\n`);
      }
      for (let rep = 1; rep <= reps; rep++) {
        const order = FRAMEWORKS.map((_, i) => FRAMEWORKS[(i + rep - 1) % FRAMEWORKS.length]!);
        for (const framework of order) {
          const row = await runOnce(framework, rep, fanOut, subtasks);
          rows.push(row);
          process.stderr.write(
            `${fanOut.subtasks} subtasks, ${framework} #${rep}: wall ${row.wallClockMs} ms, bound ${Math.round(row.boundMs)} ms, overhead ${row.overhead.toFixed(2)}\n`,
          );
        }
      }
    }
  } finally {
    await stack.close();
    await sim.close();
  }
  report(args, { fanOuts, reps, warmup, latencyScale, seed }, environment, rows);
}

interface RunParams {
  fanOuts: FanOut[];
  reps: number;
  warmup: number;
  latencyScale: number;
  seed: number;
}

/** Each framework's figures at one fan-out, and ours against each peer there. */
function compareAt(fanOut: FanOut, rows: readonly PeerRow[], seed: number) {
  const at = rows.filter((r) => r.subtasks === fanOut.subtasks);
  const summary = FRAMEWORKS.map((framework) => {
    const rs = at.filter((r) => r.framework === framework);
    return {
      framework,
      wallClockMs: summarize(rs.map((r) => r.wallClockMs)),
      boundMs: mean(rs.map((r) => r.boundMs)),
      overhead: summarize(rs.map((r) => r.overhead)),
      calls: mean(rs.map((r) => r.calls)),
      modelledMs: mean(rs.map((r) => r.modelledMs)),
      synthesisModelledMs: mean(rs.map((r) => r.synthesisModelledMs)),
    };
  });
  // Like for like only when every framework asked the model the same (the same modelled latencies).
  const ours = summary[0]!.modelledMs;
  const likeForLike = summary.every((s) => Math.abs(s.modelledMs - ours) <= 0.001 * ours);
  return { ...fanOut, summary, likeForLike, versus: versusPeers(at, 'parl-swarm', seed) };
}

function report(args: BenchArgs, params: RunParams, environment: string[], rows: PeerRow[]): void {
  const compared = params.fanOuts.map((fanOut) => compareAt(fanOut, rows, params.seed));
  for (const { subtasks, concurrency, summary, versus, likeForLike } of compared) {
    console.log(`\n${subtasks} subtasks, ${concurrency} at once:`);
    printTable([
      [
        'framework',
        'median wall ms',
        'mean bound ms',
        'median wall/bound',
        'model calls',
        'modelled ms (synthesis)',
      ],
      ...summary.map((s) => [
        s.framework,
        String(Math.round(s.wallClockMs.median)),
        String(Math.round(s.boundMs)),
        s.overhead.median.toFixed(2),
        String(Math.round(s.calls)),
        `${Math.round(s.modelledMs)} (${Math.round(s.synthesisModelledMs)})`,
      ]),
    ]);
    for (const v of versus) console.log(versusLine('parl-swarm', v));
    if (!likeForLike)
      console.log(
        'NOT like for like: the frameworks asked the model different things (modelled latencies differ)',
      );
  }
  if (compared.length > 1) {
    console.log('\nours against LangGraph.js by width:');
    printTable([
      [
        'width',
        'medians: ours · LangGraph.js · Promise.all',
        'ours / LangGraph.js, means (95 % CI)',
        'a run',
        'paired t p',
        'verdict',
        'same requests',
      ],
      ...compared.map(({ subtasks, summary, versus, likeForLike }) => {
        const lg = versus.find((v) => v.framework === 'langgraph')!;
        const r = lg.wallRatioOfMeans;
        return [
          String(subtasks),
          summary.map((s) => Math.round(s.wallClockMs.median)).join(' · '),
          `×${r.estimate.toFixed(3)} (${r.low.toFixed(3)}–${r.high.toFixed(3)})`,
          `${lg.meanDifferenceMs > 0 ? '+' : ''}${Math.round(lg.meanDifferenceMs)} ms`,
          lg.pairedP.toPrecision(2),
          lg.verdict,
          likeForLike ? 'yes' : 'NO',
        ];
      }),
    ]);
  }
  const only = compared.length === 1 ? compared[0]! : undefined;
  const result = {
    suite: 'peers',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params: {
      ...(only
        ? { n: only.subtasks, slots: only.concurrency }
        : { widths: params.fanOuts.map((f) => f.subtasks) }),
      reps: params.reps,
      warmup: params.warmup,
      latencyScale: params.latencyScale,
      seed: params.seed,
    },
    environment,
    // One fan-out keeps the shape of the runs before `--widths`; several are listed by width.
    ...(only ? { summary: only.summary, versus: only.versus } : { fanOuts: compared }),
    runs: rows,
  };
  const file = saveResult(args, 'peers', result);
  saveBesides(file, { svg: only ? fanOutChart(only, params.reps) : widthsChart(compared, params.reps) });
}

function fanOutChart(only: ReturnType<typeof compareAt>, reps: number): string {
  return barChart({
    title: `The same fan-out: ${only.subtasks} subtasks, ${only.concurrency} at once (median of ${reps})`,
    subtitle: 'wall-clock and its schedule bound, ms (bound = plan + max(slowest, work/slots) + aggregate)',
    categories: only.summary.map((s) => s.framework),
    yName: 'ms',
    series: [
      { name: 'wall-clock', values: only.summary.map((s) => Math.round(s.wallClockMs.median)) },
      { name: 'schedule bound', values: only.summary.map((s) => Math.round(s.boundMs)) },
    ],
  });
}

function widthsChart(compared: ReturnType<typeof compareAt>[], reps: number): string {
  return barChart({
    title: `The same fan-out at each width: N subtasks, N at once (median of ${reps})`,
    subtitle: 'median wall-clock per framework, ms',
    categories: compared.map((c) => String(c.subtasks)),
    yName: 'ms',
    series: FRAMEWORKS.map((framework) => ({
      name: framework,
      values: compared.map((c) =>
        Math.round(c.summary.find((s) => s.framework === framework)!.wallClockMs.median),
      ),
    })),
  });
}
