/**
 * The `sweep` suite: one job of `subtasks` subtasks (default 1,000) run at several widths (default
 * 1, 10, 50, 100 and 1,000 sub-agents), each sub-agent taking ceil(subtasks / width) of them in a row.
 *
 *   npm run bench -- --suite sweep [--subtasks 1000] [--widths 1,10,50,100,1000]
 *                                  [--latency-scale 0.5] [--seed 1]
 *
 * The subtasks are arithmetic questions of the generic workload (one model call each, answers
 * known). Per width: CriticalSteps and SequentialSteps with the step speedup, wall-clock (accepted →
 * stored result) and its speedup over the narrowest width, the overhead (wall-clock / critical path),
 * tokens and cost; next to the mission's claimed curve (10 → 2.5×, 50 → 3.8×, 100 → 4.5×). The
 * provider's limits are set not to bind (the sweep is about the fan-out, not the key).
 */
import { cpus, loadavg } from 'node:os';
import { EmbeddedStack } from '#local/runtime';
import { parseJobRequest } from '#shared/domain/request';
import { type BenchArgs, integerListArg, numberArg, printTable, saveResult } from '../common';
import { saveBesides } from '../report/artifacts';
import { lineChart } from '../report/charts';

/** The mission's claimed wall-clock speedups by width. */
const CLAIMED: Record<number, number> = { 10: 2.5, 50: 3.8, 100: 4.5 };

interface SweepRow {
  width: number;
  itemsPerAgent: number;
  status: string;
  subagents: number;
  criticalSteps: number;
  sequentialSteps: number;
  stepSpeedup: number;
  wallClockMs: number;
  criticalPathMs: number;
  overhead: number;
  wallSpeedup: number;
  rPerf: number;
  tokens: { input: number; output: number; cachedInput: number };
  costUsd: number;
}

function widthsOf(args: BenchArgs, subtasks: number): number[] {
  const widths = integerListArg(args, 'widths', '1,10,50,100,1000', { min: 1, max: subtasks });
  return [...new Set(widths)].sort((a, b) => a - b);
}

export async function sweepSuite(args: BenchArgs): Promise<void> {
  const n = Math.max(1, numberArg(args, 'subtasks', 1000));
  const widths = widthsOf(args, n);
  const latencyScale = numberArg(args, 'latency-scale', 0.5);
  const seed = numberArg(args, 'seed', 1);
  const subtasks = Array.from({ length: n }, (_, i) => {
    const a = ((seed * 31 + i * 7) % 90) + 10;
    const b = ((seed * 17 + i * 13) % 90) + 10;
    return {
      id: `q${String(i + 1).padStart(5, '0')}`,
      prompt: `What is ${a} + ${b}?`,
      expected: String(a + b),
    };
  });
  const environment = [
    `one job of ${n} arithmetic subtasks (generic workload, one model call each, answers known), widths ${widths.join(', ')}; each sub-agent takes ceil(${n}/width) in a row`,
    `simulator latency ×${latencyScale}, seed ${seed}; provider limits set not to bind; one run per width`,
    `machine: ${cpus().length} cores shared with other work (load ${loadavg()[0]!.toFixed(1)} at start): figures are noisy`,
  ];
  console.log('environment:');
  for (const line of environment) console.log(`  ${line}`);
  const stack = await EmbeddedStack.boot({
    simulator: { seed, latencyScale },
    env: {
      PARL_PROVIDER_MAX_CONCURRENCY: String(Math.max(2000, 2 * Math.max(...widths))),
      PARL_PROVIDER_RPM: '10000000',
      PARL_PROVIDER_TPM: '10000000000',
    },
  });
  const rows: SweepRow[] = [];
  try {
    for (const width of widths) {
      const itemsPerAgent = Math.ceil(n / width);
      const request = parseJobRequest(
        { task: `Answer ${n} arithmetic questions`, subtasks, maxSubagents: width, itemsPerAgent },
        { maxSubagentsCap: Math.max(1000, width) },
      );
      const { job } = await stack.run(request);
      const m = job.metrics;
      if (!m) throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
      rows.push({
        width,
        itemsPerAgent,
        status: job.status,
        subagents: m.subagents.spawned,
        criticalSteps: m.criticalSteps,
        sequentialSteps: m.sequentialSteps,
        stepSpeedup: m.stepSpeedup,
        wallClockMs: m.wallClockMs,
        criticalPathMs: m.criticalPathMs,
        overhead: m.overhead,
        wallSpeedup: Number.NaN,
        rPerf: m.rPerf ?? 0,
        tokens: m.tokens,
        costUsd: m.costUsd,
      });
      process.stderr.write(
        `width ${width}: ${job.status} wall ${m.wallClockMs} ms, CriticalSteps ${m.criticalSteps}, overhead ${m.overhead.toFixed(2)}\n`,
      );
    }
  } finally {
    await stack.close();
  }
  const base = rows[0]!.wallClockMs;
  for (const r of rows) r.wallSpeedup = base / r.wallClockMs;
  report(args, { subtasks: n, widths, latencyScale, seed }, environment, rows);
}

function report(args: BenchArgs, params: Record<string, unknown>, environment: string[], rows: SweepRow[]) {
  printTable([
    [
      'sub-agents',
      'each takes',
      'CriticalSteps',
      'step speedup',
      'wall ms',
      'wall speedup',
      'claimed',
      'overhead',
      'r_perf',
      'cost $',
    ],
    ...rows.map((r) => [
      String(r.width),
      String(r.itemsPerAgent),
      String(r.criticalSteps),
      `${r.stepSpeedup.toFixed(1)}×`,
      String(r.wallClockMs),
      `${r.wallSpeedup.toFixed(1)}×`,
      CLAIMED[r.width] ? `${CLAIMED[r.width]}×` : '–',
      r.overhead.toFixed(2),
      r.rPerf.toFixed(3),
      r.costUsd.toFixed(4),
    ]),
  ]);
  const result = {
    suite: 'sweep',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params,
    environment,
    claimed: CLAIMED,
    rows,
  };
  const file = saveResult(args, 'sweep', result);
  saveBesides(file, {
    svg: lineChart({
      title: `Speedup by width: one job of ${params.subtasks} subtasks`,
      subtitle: `wall-clock speedup over ${rows[0]!.width} sub-agent(s), step speedup, and the mission's claim`,
      xName: 'sub-agents (log)',
      yName: 'speedup ×',
      xLog: true,
      yLog: true,
      series: [
        {
          name: 'step speedup (Sequential/CriticalSteps)',
          points: rows.map((r) => [r.width, r.stepSpeedup]),
        },
        { name: 'wall-clock speedup', points: rows.map((r) => [r.width, r.wallSpeedup]) },
        {
          name: 'claimed (mission)',
          reference: true,
          points: [[1, 1], ...Object.entries(CLAIMED).map(([w, s]) => [Number(w), s] as [number, number])],
        },
      ],
    }),
  });
}
