/**
 * The `toggle` suite: the same task class for `jobs` jobs without and with TOGGLE, side by side, and a
 * few jobs with a budget that is too small, to show the trade-off is real.
 *
 *   npm run bench -- --suite toggle [--jobs 30] [--installations 40] [--latency-scale 0.02] [--seed 1]
 *                                   [--small-budget 400]
 *
 * The environment (printed with the results): the simulator plays a thinking model
 * (`SimulatorOptions.reasoning`): before each sub-agent turn it reasons up to its output budget
 * (`max_tokens` less its visible reply), and each installation needs between 200 and 550 tokens of
 * reasoning for a right verdict; fewer and the verdict is wrong. Answers longer than `max_tokens` are
 * cut (`finish_reason: "length"`). Every job pins its fan-out (one installation per sub-agent, all at
 * once) and uses the policy only for TOGGLE (policy `greedy`, thresholds from shared/config.ts:
 * budget 0.7·B after 3 scored jobs with r_perf ≥ 0.9 and spread ≤ 0.05).
 */
import { cpus } from 'node:os';
import { EmbeddedStack } from '#local/runtime';
import { parseJobRequest } from '#shared/domain/request';
import type { JobMetrics } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { type BenchArgs, mean, numberArg, printTable, saveResult } from '../common';

interface Row {
  run: string;
  index: number;
  budget: number;
  metrics: JobMetrics;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

export async function toggleSuite(args: BenchArgs): Promise<void> {
  const jobs = numberArg(args, 'jobs', 30);
  const installations = Math.max(1, numberArg(args, 'installations', 40));
  const latencyScale = numberArg(args, 'latency-scale', 0.02);
  const seed = numberArg(args, 'seed', 1);
  const smallBudget = numberArg(args, 'small-budget', 400);
  const reasoning = { minNeed: 200, maxNeed: 550 };
  const environment = [
    `${installations} BMA installations per job (one sub-agent each, all at once), a new data set per job (seed ${seed} + job), 3 % wrong verdicts`,
    `thinking model: reasons up to its output budget; ${reasoning.minNeed}-${reasoning.maxNeed} tokens of reasoning needed per installation`,
    `full budget B = 1000 (PARL_MAX_OUTPUT_TOKENS); TOGGLE: 0.7·B after 3 jobs with r_perf ≥ 0.9, spread ≤ 0.05`,
    `simulator latency ×${latencyScale}`,
  ];
  console.log('environment:');
  for (const line of environment) console.log(`  ${line}`);

  const stack = await EmbeddedStack.boot({
    simulator: { seed, latencyScale, verdictErrorRate: 0.03, reasoning },
  });
  const tag = new Date().toISOString().replace(/[:.]/g, '-');
  const rows: Row[] = [];
  const runJobs = (run: string, count: number, extra: Record<string, unknown>) =>
    runToggleJobs({ stack, rows, installations, seed, tag }, run, count, extra);
  try {
    await runJobs('without', jobs, { policy: 'greedy', toggle: false });
    await runJobs('with', jobs, { policy: 'greedy' });
    await runJobs('small', Math.min(5, jobs), {
      policy: 'greedy',
      toggle: false,
      maxOutputTokens: smallBudget,
    });
  } finally {
    await stack.close();
  }

  const summary = summarize(rows);
  const [without, withToggle, small] = summary as [
    (typeof summary)[0],
    (typeof summary)[0],
    (typeof summary)[0],
  ];
  const reduction = 1 - withToggle.outputTokens / without.outputTokens;
  const perfDiff = withToggle.meanRPerf - without.meanRPerf;
  printSummary(summary, smallBudget);
  const met = { tokens: reduction >= 0.25, perf: Math.abs(perfDiff) <= 0.02 };
  console.log(
    `output tokens ${(reduction * 100).toFixed(1)} % fewer with TOGGLE → "≥ 25 %": ${met.tokens ? 'MET' : 'NOT MET'}` +
      `\nr_perf with − without = ${perfDiff.toFixed(4)} → "within 0.02": ${met.perf ? 'MET' : 'NOT MET'}` +
      `\na budget of ${smallBudget} without TOGGLE: r_perf ${small.meanRPerf.toFixed(4)} (the trade-off: too small a budget costs quality)`,
  );
  saveResult(args, 'toggle', {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params: { jobs, installations, latencyScale, seed, smallBudget, reasoning },
    environment,
    summary,
    reduction,
    perfDiff,
    met,
    jobs: rows.map((r) => ({
      run: r.run,
      index: r.index,
      budget: r.budget,
      output: r.metrics.tokens.output,
      rPerf: r.metrics.rPerf,
    })),
  } as { at: string });
}

type Summary = ReturnType<typeof summarize>;

/** Each run's totals and means. */
function summarize(rows: Row[]) {
  return ['without', 'with', 'small'].map((run) => {
    const rs = rows.filter((r) => r.run === run);
    return {
      run,
      jobs: rs.length,
      reducedJobs: rs.filter((r) => r.metrics.toggle?.reduced).length,
      outputTokens: sum(rs.map((r) => r.metrics.tokens.output)),
      meanOutputTokens: mean(rs.map((r) => r.metrics.tokens.output)),
      tokensSavedReported: sum(rs.map((r) => r.metrics.toggle?.tokensSaved ?? 0)),
      meanRPerf: mean(rs.map((r) => r.metrics.rPerf ?? 0)),
      meanReward: mean(rs.map((r) => r.metrics.reward ?? 0)),
      costUsd: sum(rs.map((r) => r.metrics.costUsd)),
    };
  });
}

function printSummary(summary: Summary, smallBudget: number): void {
  printTable([
    [
      'run',
      'jobs',
      'jobs at 0.7·B',
      'output tokens',
      'per job',
      'saved (reported)',
      'mean r_perf',
      'mean reward',
      'cost $',
    ],
    ...summary.map((s) => [
      s.run === 'small' ? `budget ${smallBudget}, no TOGGLE` : `${s.run} TOGGLE`,
      String(s.jobs),
      String(s.reducedJobs),
      String(s.outputTokens),
      String(Math.round(s.meanOutputTokens)),
      String(s.tokensSavedReported),
      s.meanRPerf.toFixed(4),
      s.meanReward.toFixed(4),
      s.costUsd.toFixed(4),
    ]),
  ]);
}

/** Runs `count` jobs of one run, a new data set each, and records their rows. */
async function runToggleJobs(
  ctx: { stack: EmbeddedStack; rows: Row[]; installations: number; seed: number; tag: string },
  run: string,
  count: number,
  extra: Record<string, unknown>,
): Promise<void> {
  const { stack, rows, installations, seed, tag } = ctx;
  for (let i = 1; i <= count; i++) {
    const request = parseJobRequest(
      {
        ...bmaDemoRequest(installations, seed + i),
        taskClass: 'bench-toggle',
        maxSubagents: installations,
        itemsPerAgent: 1,
        ...extra,
      },
      { maxSubagentsCap: 1000 },
    );
    const { job } = await stack.run(request, undefined, `bench-toggle-${run}-${tag}`);
    if (!job.metrics) throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
    const budget = job.plan?.budget?.budget ?? 0;
    rows.push({ run, index: i, budget, metrics: job.metrics });
    process.stderr.write(
      `${run} #${i}: budget ${budget} output tokens ${job.metrics.tokens.output} r_perf ${job.metrics.rPerf?.toFixed(3)}\n`,
    );
  }
}
