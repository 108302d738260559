/**
 * The `ab` suite: an A/B test over many paired runs, with significance tests and confidence
 * intervals (bench/report/stats.ts), a Markdown report and a chart next to the JSON.
 *
 *   npm run bench -- --suite ab [--compare modes|toggle] [--runs 100] [--installations 20]
 *                               [--latency-scale 0.05] [--seed 1] [--resamples 10000]
 *
 * - `modes` (default): the BMA demo in `sequential` mode (arm A, the baseline) and in `parl` mode
 *   (arm B). Pair i checks a new data set (seed + i) in both modes, in alternating order so drift on
 *   the shared machine hits both arms alike. Wall-clock runs from the accepted request to the stored
 *   result (the job's `wallClockMs`): the parallelisation overhead is inside it.
 * - `toggle`: the same engine twice, TOGGLE off (arm A) and on (arm B), with the simulator playing a
 *   thinking model (as the `toggle` suite): each arm is its own tenant, so each policy learns from its
 *   own jobs only; TOGGLE reduces the budget after 3 stable jobs, which are in the sample.
 *
 * The statistics per measure: n, mean, median, p95 per arm; mean(A)/mean(B) with a paired bootstrap
 * 95 % interval (for wall-clock in `modes`: the speedup); Welch's t-test and the Mann–Whitney U test
 * (two-sided p-values); Cohen's d. Every run's figures are in the JSON.
 */
import { cpus, loadavg } from 'node:os';
import { EmbeddedStack } from '#local/runtime';
import { parseJobRequest } from '#shared/domain/request';
import type { JobMetrics } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { type BenchArgs, numberArg, SuiteUsageError, saveResult } from '../common';
import { type AbMeasure, type AbReport, type AbRun, abMarkdown, abTable } from '../report/ab-report';
import { saveBesides } from '../report/artifacts';
import { abChart } from '../report/charts';
import { compare } from '../report/stats';

/** How one comparison builds its two arms and which measures it tests. */
interface Design {
  arms: [string, string];
  description: string[];
  measures: AbMeasure[];
  simulator: Record<string, unknown>;
  extra: (arm: 0 | 1) => Record<string, unknown>;
  tenant: (arm: 0 | 1, tag: string) => string | undefined;
}

const WALL: AbMeasure = { key: 'wallClockMs', label: 'wall-clock ms', ratioLabel: 'speedup A/B' };
const REASONING = { minNeed: 200, maxNeed: 550 };
// The defaults fit 100 pairs in 20 minutes on the shared 2-core machine (see the README).
const DEFAULTS = { installations: 10, latencyScale: 0.2 };

function designOf(compareWhat: string, installations: number): Design {
  if (compareWhat === 'modes') {
    return {
      arms: ['sequential', 'parl'],
      description: [
        `BMA demo, ${installations} installations per job, a new data set per pair; A = one agent doing every subtask, B = PARL fan-out (one sub-agent per installation)`,
      ],
      measures: [
        WALL,
        { key: 'criticalPathMs', label: 'critical path ms', ratioLabel: 'model-time speedup A/B' },
        { key: 'criticalSteps', label: 'CriticalSteps', ratioLabel: 'step speedup A/B' },
      ],
      simulator: {},
      extra: (arm) => ({ mode: arm === 0 ? 'sequential' : 'parl' }),
      tenant: () => undefined,
    };
  }
  if (compareWhat === 'toggle') {
    return {
      arms: ['toggle-off', 'toggle-on'],
      description: [
        `BMA demo, ${installations} installations per job (one sub-agent each), policy greedy; A = TOGGLE off, B = TOGGLE on (0.7·B after 3 stable jobs)`,
        `thinking model: ${REASONING.minNeed}-${REASONING.maxNeed} reasoning tokens needed per installation; each arm its own tenant`,
      ],
      measures: [
        { key: 'outputTokens', label: 'output tokens', ratioLabel: 'tokens A/B' },
        WALL,
        { key: 'rPerf', label: 'r_perf', ratioLabel: 'r_perf A/B' },
      ],
      simulator: { reasoning: REASONING },
      extra: (arm) => ({
        taskClass: 'bench-ab-toggle',
        policy: 'greedy',
        toggle: arm === 1,
        maxSubagents: installations,
        itemsPerAgent: 1,
      }),
      tenant: (arm, tag) => `bench-ab-${arm === 0 ? 'off' : 'on'}-${tag}`,
    };
  }
  throw new SuiteUsageError(`--compare must be "modes" or "toggle", got "${compareWhat}"`);
}

const runFigures = (m: JobMetrics): Omit<AbRun, 'pair' | 'seed' | 'arm' | 'order' | 'status'> => ({
  wallClockMs: m.wallClockMs,
  criticalPathMs: m.criticalPathMs,
  overhead: m.overhead,
  criticalSteps: m.criticalSteps,
  sequentialSteps: m.sequentialSteps,
  outputTokens: m.tokens.output,
  inputTokens: m.tokens.input,
  costUsd: m.costUsd,
  rPerf: m.rPerf ?? 0,
  reward: m.reward ?? 0,
});

export async function abSuite(args: BenchArgs): Promise<void> {
  const compareWhat = args.compare ?? 'modes';
  const runs = Math.max(2, numberArg(args, 'runs', 100));
  const installations = Math.max(1, numberArg(args, 'installations', DEFAULTS.installations));
  const latencyScale = numberArg(args, 'latency-scale', DEFAULTS.latencyScale);
  const seed = numberArg(args, 'seed', 1);
  const resamples = Math.max(100, numberArg(args, 'resamples', 10_000));
  const design = designOf(compareWhat, installations);
  const environment = [
    ...design.description,
    `simulator latency ×${latencyScale}, 3 % wrong verdicts; ${runs} pairs; arms alternate which runs first`,
    `machine: ${cpus().length} cores shared with other work (load ${loadavg()[0]!.toFixed(1)} at start): figures are noisy`,
  ];
  console.log('environment:');
  for (const line of environment) console.log(`  ${line}`);

  const started = Date.now();
  const stack = await EmbeddedStack.boot({
    simulator: { seed, latencyScale, verdictErrorRate: 0.03, ...design.simulator },
  });
  const tag = new Date().toISOString().replace(/[:.]/g, '-');
  const rows: AbRun[] = [];
  try {
    for (let pair = 0; pair < runs; pair++) {
      const order: (0 | 1)[] = pair % 2 === 0 ? [0, 1] : [1, 0];
      for (const [position, arm] of order.entries()) {
        const pairSeed = seed + pair;
        const request = parseJobRequest(
          { ...bmaDemoRequest(installations, pairSeed), ...design.extra(arm) },
          { maxSubagentsCap: 1000 },
        );
        const { job } = await stack.run(request, undefined, design.tenant(arm, tag));
        if (!job.metrics)
          throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
        const row: AbRun = {
          pair,
          seed: pairSeed,
          arm: design.arms[arm],
          order: position,
          status: job.status,
          ...runFigures(job.metrics),
        };
        rows.push(row);
        process.stderr.write(
          `pair ${pair + 1}/${runs} ${row.arm}: ${row.status} wall ${row.wallClockMs} ms, CriticalSteps ${row.criticalSteps}, output ${row.outputTokens}\n`,
        );
      }
    }
  } finally {
    await stack.close();
  }

  const report = buildReport(design, rows, resamples, {
    compare: compareWhat,
    runs,
    installations,
    latencyScale,
    seed,
    resamples,
  });
  report.durationS = Math.round((Date.now() - started) / 1000);
  report.environment = environment;
  for (const line of abTable(report)) console.log(line);
  const file = saveResult(args, `ab-${compareWhat}`, report);
  saveBesides(file, { md: abMarkdown(report, file), svg: abChart(report) });
}

function buildReport(
  design: Design,
  rows: AbRun[],
  resamples: number,
  params: Record<string, unknown>,
): AbReport {
  const byArm = (arm: string) =>
    [...rows].filter((r) => r.arm === arm).sort((a, b) => a.pair - b.pair) as AbRun[];
  const [a, b] = [byArm(design.arms[0]), byArm(design.arms[1])];
  return {
    suite: 'ab',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params,
    arms: design.arms,
    environment: [],
    durationS: 0,
    succeeded: design.arms.map((arm) => rows.filter((r) => r.arm === arm && r.status === 'SUCCEEDED').length),
    comparisons: design.measures.map((measure) => ({
      measure,
      ...compare(
        a.map((r) => r[measure.key]),
        b.map((r) => r[measure.key]),
        { paired: true, resamples, seed: 1 },
      ),
    })),
    runs: rows,
  };
}
