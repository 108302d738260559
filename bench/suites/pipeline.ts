/**
 * The `pipeline` suite: the demo job in `sequential` and `parl` mode on the embedded stack, side by side.
 *
 *   npm run bench -- --suite pipeline [--reps 3] [--installations 100] [--latency-scale 0.25] [--seed 1]
 */
import { cpus, totalmem } from 'node:os';
import { EmbeddedStack } from '#local/runtime';
import { parseJobRequest } from '#shared/domain/request';
import type { JobMetrics, JobMode } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { type BenchArgs, median, numberArg, printTable, saveResult } from '../common';

interface Run {
  mode: JobMode;
  rep: number;
  status: string;
  metrics: JobMetrics;
}

export async function pipelineSuite(args: BenchArgs): Promise<void> {
  const reps = numberArg(args, 'reps', 3);
  const installations = numberArg(args, 'installations', 100);
  const latencyScale = numberArg(args, 'latency-scale', 0.25);
  const seed = numberArg(args, 'seed', 1);

  const stack = await EmbeddedStack.boot({ simulator: { seed, latencyScale, verdictErrorRate: 0.03 } });
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
        if (!job.metrics)
          throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
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

  const summary = summarize(runs);
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

  printSummary(summary);
  console.log(
    `wall-clock speedup parl vs sequential: ${result.wallClockSpeedup.toFixed(1)}× · peak RSS ${result.peakRssMiB} MiB · ${installations} installations, ${reps} reps, latency scale ${latencyScale}`,
  );
  saveResult(args, 'pipeline', result);
}

function summarize(runs: readonly Run[]) {
  return (['sequential', 'parl'] as const).map((mode) => {
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
}

function printSummary(summary: ReturnType<typeof summarize>): void {
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
  printTable(table);
}
