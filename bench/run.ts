/**
 * `npm run bench`: the demo job in `sequential` and `parl` mode on the embedded stack, side by side.
 * Prints a table and writes it as JSON under bench/results/. Timings are measured here, never asserted.
 *
 *   npm run bench -- [--reps 3] [--installations 100] [--latency-scale 0.25] [--seed 1]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { LocalStack } from '#cdk/local/runtime';
import { bmaDemoRequest } from '#shared/domain/demo';
import { parseJobRequest } from '#shared/domain/request';
import type { JobMetrics, JobMode } from '#shared/domain/types';

const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'pipeline' },
    reps: { type: 'string', default: '3' },
    installations: { type: 'string', default: '100' },
    'latency-scale': { type: 'string', default: '0.25' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/results' },
  },
});

if (values.suite !== 'pipeline') {
  console.error(`bench: unknown suite "${values.suite}" (available: pipeline)`);
  process.exit(2);
}
const reps = Number(values.reps);
const installations = Number(values.installations);
const latencyScale = Number(values['latency-scale']);
const seed = Number(values.seed);
for (const [name, v] of Object.entries({ reps, installations, latencyScale, seed })) {
  if (!Number.isFinite(v) || v < 0) {
    console.error(`bench: --${name} must be a non-negative number`);
    process.exit(2);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

interface Run {
  mode: JobMode;
  rep: number;
  status: string;
  metrics: JobMetrics;
}

const stack = await LocalStack.start({ simulator: { seed, latencyScale, verdictErrorRate: 0.03 } });
const runs: Run[] = [];
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);
try {
  for (const mode of ['sequential', 'parl'] as const) {
    for (let rep = 1; rep <= reps; rep++) {
      const request = parseJobRequest(
        { ...bmaDemoRequest(installations, seed), mode },
        { maxSubagentsCap: 1000 },
      );
      const { job } = await stack.run(request);
      if (!job.metrics) throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
      runs.push({ mode, rep, status: job.status, metrics: job.metrics });
      process.stderr.write(
        `${mode} #${rep}: ${job.status} wall ${job.metrics.wallClockMs} ms, CriticalSteps ${job.metrics.criticalSteps}\n`,
      );
    }
  }
} finally {
  clearInterval(sampler);
  await stack.close();
}

const summary = (['sequential', 'parl'] as const).map((mode) => {
  const rs = runs.filter((r) => r.mode === mode).map((r) => r.metrics);
  return {
    mode,
    runs: rs.length,
    succeeded: runs.filter((r) => r.mode === mode && r.status === 'SUCCEEDED').length,
    medianWallClockMs: median(rs.map((m) => m.wallClockMs)),
    medianCriticalPathMs: median(rs.map((m) => m.criticalPathMs)),
    criticalSteps: median(rs.map((m) => m.criticalSteps)),
    sequentialSteps: median(rs.map((m) => m.sequentialSteps)),
    stepSpeedup: median(rs.map((m) => m.stepSpeedup)),
    medianOverhead: median(rs.map((m) => m.overhead)),
    rFinish: median(rs.map((m) => m.rFinish)),
    rPerf: median(rs.map((m) => m.rPerf ?? 0)),
    reward: median(rs.map((m) => m.reward ?? 0)),
    inputTokens: median(rs.map((m) => m.tokens.input)),
    cachedInputTokens: median(rs.map((m) => m.tokens.cachedInput)),
    outputTokens: median(rs.map((m) => m.tokens.output)),
    costUsd: median(rs.map((m) => m.costUsd)),
  };
});
const [seq, parl] = summary as [(typeof summary)[0], (typeof summary)[0]];
const result = {
  suite: 'pipeline',
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
  params: { reps, installations, latencyScale, seed },
  summary,
  wallClockSpeedup: seq.medianWallClockMs / parl.medianWallClockMs,
  peakRssMiB: Math.round(peakRss / 2 ** 20),
  runs,
};

const table = [
  [
    'mode',
    'median wall ms',
    'critical path ms',
    'overhead',
    'CriticalSteps',
    'SequentialSteps',
    'step speedup',
    'r_perf',
    'reward',
    'tokens in/cached/out',
    'cost $',
  ],
  ...summary.map((s) => [
    s.mode,
    String(Math.round(s.medianWallClockMs)),
    String(Math.round(s.medianCriticalPathMs)),
    s.medianOverhead.toFixed(2),
    String(s.criticalSteps),
    String(s.sequentialSteps),
    s.stepSpeedup.toFixed(1),
    s.rPerf.toFixed(3),
    s.reward.toFixed(3),
    `${s.inputTokens}/${s.cachedInputTokens}/${s.outputTokens}`,
    s.costUsd.toFixed(4),
  ]),
];
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
console.log(
  `wall-clock speedup parl vs sequential: ${result.wallClockSpeedup.toFixed(1)}× · peak RSS ${result.peakRssMiB} MiB · ${installations} installations, ${reps} reps, latency scale ${latencyScale}`,
);
mkdirSync(values.out!, { recursive: true });
const file = `${values.out}/pipeline-${result.at.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`saved ${file}`);
