/**
 * The `peers` suite: the same fan-out through PARL Swarm, LangGraph.js and a bare Promise.all +
 * p-limit, in the same run, against the same endpoint (the simulator over HTTP, on a thread of its
 * own, as a provider is another machine), at the same width.
 *
 *   npm run bench -- --suite peers [--subtasks 200] [--concurrency 50] [--reps 3]
 *                                  [--warmup 1] [--latency-scale 1] [--seed 1]
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
 * slower, faster, or not told apart.
 */
import { cpus, loadavg } from 'node:os';
import OpenAI from 'openai';
import { EmbeddedStack } from '#local/runtime';
import { startSimulatorThread } from '#local/simulator/thread';
import { parseJobRequest } from '#shared/domain/request';
import { type BenchArgs, numberArg, printTable, saveResult } from '../common';
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

interface PeerRow {
  framework: Framework;
  rep: number;
  wallClockMs: number;
  boundMs: number;
  overhead: number;
  calls: number;
  correct: number;
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

/** One run of the fan-out through PARL Swarm's own workflow on the embedded stack. */
async function runParlSwarm(
  stack: EmbeddedStack,
  {
    task,
    items,
    slots,
    n,
    rep,
  }: { task: string; items: PeerSubtask[]; slots: number; n: number; rep: number },
): Promise<PeerRow> {
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
    rep,
    wallClockMs: wall,
    boundMs,
    overhead: wall / boundMs,
    calls: steps.length,
    correct,
  };
}

export async function peersSuite(args: BenchArgs): Promise<void> {
  const n = Math.max(1, numberArg(args, 'subtasks', 200));
  const slots = Math.max(1, numberArg(args, 'concurrency', 50));
  const reps = Math.max(1, numberArg(args, 'reps', 3));
  const latencyScale = numberArg(args, 'latency-scale', 1);
  const seed = numberArg(args, 'seed', 1);
  const warmup = Math.max(1, numberArg(args, 'warmup', DEFAULT_WARMUP_ROUNDS));
  const task = `Answer ${n} arithmetic questions`;
  const subtasks = questions(n, seed);
  const environment = [
    `${n} subtasks (one model call each, generic workload) + 1 synthesizer call; ${slots} at once in every framework`,
    `one simulator over HTTP (its own thread) for all three, latency ×${latencyScale}, seed ${seed}; ${warmup} unmeasured rounds, then ${reps} reps; frameworks take turns`,
    `machine: ${cpus().length} cores shared with other work (load ${loadavg()[0]!.toFixed(1)} at start): figures are noisy`,
  ];
  console.log('environment:');
  for (const line of environment) console.log(`  ${line}`);

  const sim = await startSimulatorThread({ seed, latencyScale });
  const stack = await EmbeddedStack.boot({
    llm: { baseUrl: sim.baseUrl, apiKey: 'simulator' },
    env: {
      PARL_PROVIDER_MAX_CONCURRENCY: String(Math.max(1000, slots * 2)),
      PARL_PROVIDER_RPM: '1000000',
      PARL_PROVIDER_TPM: '1000000000',
    },
  });
  const client = new OpenAI({ baseURL: sim.baseUrl, apiKey: 'simulator', maxRetries: 0 });
  const rows: PeerRow[] = [];
  const runOnce = async (framework: Framework, rep: number, items = subtasks): Promise<PeerRow> => {
    if (framework === 'parl-swarm') return runParlSwarm(stack, { task, items, slots, n, rep });
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
      rep,
      wallClockMs: run.wallClockMs,
      boundMs,
      overhead: run.wallClockMs / boundMs,
      calls: run.calls.length,
      correct: n, // the peers do not score; the answers are the simulator's, as ours
    };
  };
  try {
    // Unmeasured rounds first: handlers loaded, tables warm, connections open.
    for (let round = 1; round <= warmup; round++) {
      for (const framework of FRAMEWORKS) await runOnce(framework, 0, subtasks.slice(0, slots));
      if (round % 10 === 0 || round === warmup)
        process.stderr.write(`warm-up: ${round} of ${warmup} rounds\n`);
    }
    for (let rep = 1; rep <= reps; rep++) {
      const order = FRAMEWORKS.map((_, i) => FRAMEWORKS[(i + rep - 1) % FRAMEWORKS.length]!);
      for (const framework of order) {
        const row = await runOnce(framework, rep);
        rows.push(row);
        process.stderr.write(
          `${framework} #${rep}: wall ${row.wallClockMs} ms, bound ${Math.round(row.boundMs)} ms, overhead ${row.overhead.toFixed(2)}\n`,
        );
      }
    }
  } finally {
    await stack.close();
    await sim.close();
  }
  report(args, { n, slots, reps, warmup, latencyScale, seed }, environment, rows);
}

function report(
  args: BenchArgs,
  params: Record<string, number>,
  environment: string[],
  rows: PeerRow[],
): void {
  const summary = FRAMEWORKS.map((framework) => {
    const rs = rows.filter((r) => r.framework === framework);
    return {
      framework,
      wallClockMs: summarize(rs.map((r) => r.wallClockMs)),
      boundMs: mean(rs.map((r) => r.boundMs)),
      overhead: summarize(rs.map((r) => r.overhead)),
      calls: mean(rs.map((r) => r.calls)),
    };
  });
  const versus = versusPeers(rows, 'parl-swarm', params.seed);
  printTable([
    ['framework', 'median wall ms', 'mean bound ms', 'median wall/bound', 'model calls'],
    ...summary.map((s) => [
      s.framework,
      String(Math.round(s.wallClockMs.median)),
      String(Math.round(s.boundMs)),
      s.overhead.median.toFixed(2),
      String(Math.round(s.calls)),
    ]),
  ]);
  for (const v of versus) console.log(versusLine('parl-swarm', v));
  const result = {
    suite: 'peers',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params,
    environment,
    summary,
    versus,
    runs: rows,
  };
  const file = saveResult(args, 'peers', result);
  saveBesides(file, {
    svg: barChart({
      title: `The same fan-out: ${params.n} subtasks, ${params.slots} at once (median of ${params.reps})`,
      subtitle: 'wall-clock and its schedule bound, ms (bound = plan + max(slowest, work/slots) + aggregate)',
      categories: summary.map((s) => s.framework),
      yName: 'ms',
      series: [
        { name: 'wall-clock', values: summary.map((s) => Math.round(s.wallClockMs.median)) },
        { name: 'schedule bound', values: summary.map((s) => Math.round(s.boundMs)) },
      ],
    }),
  });
}
