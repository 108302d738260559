/**
 * The `learning` suite: the fan-out policy learning from scratch in an environment where the widest
 * fan-out is not the best, compared with every fixed arm in the same run.
 *
 *   npm run bench -- --suite learning [--jobs 40] [--reps 3] [--installations 16] [--max-in-flight 4]
 *                                     [--latency-scale 2] [--max-wait-ms 1500] [--seed 1]
 *
 * The environment (printed with the results):
 * - every job checks the same `installations` fire-alarm installations (the BMA demo, ground truth
 *   known): each subtask takes a sub-agent two model calls (tools, then the verdict);
 * - an arm is a fan-out `wN`: N sub-agents at once, each taking ceil(installations / N) of them in a
 *   row. Batching raises CriticalSteps (2 per installation a sub-agent takes, plus the synthesizer),
 *   which lowers r_parallel: narrow arms lose there;
 * - the provider allows `max-in-flight` requests at once per key (the simulator answers Moonshot's
 *   429 `rate_limit_reached_error` above it, with Retry-After); each sub-agent's model call retries
 *   429s for at most `max-wait-ms` (its deadline) and then fails, without the shared limiter queueing
 *   it (PARL_PROVIDER_LIMITER=off: a key shared with callers outside the service, or a deadline
 *   shorter than the queue). Wide arms meet 429s, run out of time, lose sub-agents (r_finish) and
 *   their subtasks (r_perf): wide arms lose there;
 * - so a middle arm is best. The fixed arms run `reps` times each, then `jobs` jobs learn from
 *   scratch (a fresh tenant and task class, policy `learn`), one after another.
 */
import { cpus } from 'node:os';
import { EmbeddedStack } from '#local/runtime';
import { startSimulator } from '#local/simulator/server';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { DynamoPolicyStore } from '#shared/adapters/dynamo/policy-store';
import { type Arm, candidateArms, defaultArms, resolveFanOut } from '#shared/domain/policy';
import { parseJobRequest } from '#shared/domain/request';
import type { JobMetrics } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { getPolicies } from '#shared/use-cases/policy';
import { type BenchArgs, mean, numberArg, printTable, saveResult } from '../common';
import { saveBesides } from '../report/artifacts';
import { convergenceCharts, convergenceOf } from '../report/convergence';

interface JobRow {
  phase: 'fixed' | 'learn';
  index: number;
  arm: string;
  width: number;
  itemsPerAgent: number;
  status: string;
  refused429: number;
  metrics: JobMetrics;
}

/** The suite's parameters, read from the bench's arguments. */
function paramsOf(args: BenchArgs) {
  return {
    jobs: numberArg(args, 'jobs', 40),
    reps: numberArg(args, 'reps', 3),
    installations: Math.max(2, numberArg(args, 'installations', 16)),
    maxInFlight: Math.max(1, numberArg(args, 'max-in-flight', 4)),
    latencyScale: numberArg(args, 'latency-scale', 2),
    maxWaitMs: numberArg(args, 'max-wait-ms', 1500),
    seed: numberArg(args, 'seed', 1),
  };
}

type Params = ReturnType<typeof paramsOf>;

/** What one job of the suite runs on. */
interface Bench {
  params: Params;
  arms: Arm[];
  stack: EmbeddedStack;
  refused: () => number;
  rows: JobRow[];
}

const TASK_CLASS = 'bench-learning';

export async function learningSuite(args: BenchArgs): Promise<void> {
  const params = paramsOf(args);
  const { jobs, reps, installations, maxInFlight, latencyScale, maxWaitMs, seed } = params;
  const arms = candidateArms(defaultArms(), installations);
  const environment = [
    `${installations} BMA installations per job (2 model calls per installation, ground truth known, 3 % wrong verdicts)`,
    `arms ${arms.map((a) => a.id).join(', ')}: wN = N sub-agents at once, ceil(${installations}/N) installations each`,
    `provider: at most ${maxInFlight} requests in flight per key (429 rate_limit_reached_error above, Retry-After); a call retries 429s for ${maxWaitMs} ms, no shared limiter`,
    `simulator latency ×${latencyScale}, seed ${seed}; reward rPARL with λ = (0.4, 0.35, 0.25)`,
  ];
  console.log('environment:');
  for (const line of environment) console.log(`  ${line}`);

  const sim = await startSimulator({
    seed,
    latencyScale,
    verdictErrorRate: 0.03,
    limits: { maxConcurrency: maxInFlight, retryAfter: 'always' },
  });
  const stack = await EmbeddedStack.boot({
    llm: { baseUrl: sim.baseUrl, apiKey: 'simulator' },
    env: { PARL_PROVIDER_LIMITER: 'off', PARL_PROVIDER_MAX_WAIT_MS: String(maxWaitMs) },
  });
  const runTag = new Date().toISOString().replace(/[:.]/g, '-');
  const learnTenant = `bench-learn-${runTag}`;
  const bench: Bench = {
    params,
    arms,
    stack,
    refused: () => sim.providerStats().limits.rateLimited,
    rows: [],
  };
  try {
    for (const arm of arms) {
      const fanOut = resolveFanOut(installations, arm.width, arm.itemsPerAgent);
      for (let rep = 1; rep <= reps; rep++) {
        await runJob(bench, 'fixed', rep, `bench-fixed-${runTag}`, {
          policy: 'off',
          maxSubagents: fanOut.width,
          itemsPerAgent: fanOut.itemsPerAgent,
        });
      }
    }
    for (let i = 1; i <= jobs; i++) await runJob(bench, 'learn', i, learnTenant, { policy: 'learn' });
    const doc = createDynamoDocumentClient(stack.config);
    const [policy] = await getPolicies(
      { policies: new DynamoPolicyStore(doc, stack.config.tableName) },
      learnTenant,
      TASK_CLASS,
    );
    const { fixed, checks } = report(bench);
    if (policy) {
      console.log(
        `policy after ${policy.jobs} jobs: ${policy.arms.map((a) => `${a.id} n=${a.count} mean=${a.meanReward?.toFixed(3) ?? '–'}`).join(' · ')}`,
      );
    }
    const { iterations, convergence } = convergenceReport(bench.rows);
    const result = {
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      params,
      environment,
      fixed,
      checks,
      policy,
      provider: sim.providerStats(),
      convergence,
      jobs: bench.rows.map((r) => ({ ...r, metrics: { ...r.metrics, stages: undefined } })),
    };
    const file = saveResult(args, 'learning', result);
    saveBesides(file, convergenceCharts(iterations, convergence));
  } finally {
    await stack.close();
    await sim.close();
  }
}

/** Runs one job of the suite and records its row. */
async function runJob(
  bench: Bench,
  phase: JobRow['phase'],
  index: number,
  tenantId: string,
  extra: Record<string, unknown>,
): Promise<JobRow> {
  const { installations, seed } = bench.params;
  const request = parseJobRequest(
    { ...bmaDemoRequest(installations, seed), taskClass: TASK_CLASS, ...extra },
    { maxSubagentsCap: 1000 },
  );
  const before = bench.refused();
  const { job } = await bench.stack.run(request, undefined, tenantId);
  if (!job.metrics) throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
  const width = job.plan?.policy?.width ?? job.plan?.maxConcurrency ?? 0;
  const itemsPerAgent = job.plan?.itemsPerAgent ?? 1;
  const arm =
    job.plan?.policy?.armId ??
    bench.arms.find((a) => a.width === extra.maxSubagents)?.id ??
    `w${width}k${itemsPerAgent}`;
  const row: JobRow = {
    phase,
    index,
    arm,
    width,
    itemsPerAgent,
    status: job.status,
    refused429: bench.refused() - before,
    metrics: job.metrics,
  };
  bench.rows.push(row);
  process.stderr.write(
    `${phase} #${index} ${arm}: ${job.status} CriticalSteps ${job.metrics.criticalSteps} wall ${job.metrics.wallClockMs} ms reward ${job.metrics.reward?.toFixed(3)} (429s ${row.refused429})\n`,
  );
  return row;
}

/** Each fixed arm's means over its runs. */
function fixedArms(arms: Arm[], rows: JobRow[]) {
  return arms.map((arm) => {
    const rs = rows.filter((r) => r.phase === 'fixed' && r.arm === arm.id);
    return {
      arm: arm.id,
      width: rs[0]?.width ?? 0,
      itemsPerAgent: rs[0]?.itemsPerAgent ?? 0,
      runs: rs.length,
      meanReward: mean(rs.map((r) => r.metrics.reward ?? 0)),
      meanCriticalSteps: mean(rs.map((r) => r.metrics.criticalSteps)),
      meanWallClockMs: mean(rs.map((r) => r.metrics.wallClockMs)),
      meanRParallel: mean(rs.map((r) => r.metrics.rParallel)),
      meanRFinish: mean(rs.map((r) => r.metrics.rFinish)),
      meanRPerf: mean(rs.map((r) => r.metrics.rPerf ?? 0)),
      refused429: mean(rs.map((r) => r.refused429)),
    };
  });
}

type FixedArm = ReturnType<typeof fixedArms>[number];

/** Prints the fixed arms, the learning jobs and the verdicts; returns the fixed arms and the checks. */
function report(bench: Bench) {
  const { jobs } = bench.params;
  const fixed = fixedArms(bench.arms, bench.rows);
  const bestIndex = fixed.reduce((b, f, i) => (f.meanReward > fixed[b]!.meanReward ? i : b), 0);
  const best = fixed[bestIndex]!;
  const goodArms = new Set(
    [bestIndex - 1, bestIndex, bestIndex + 1]
      .filter((i) => i >= 0 && i < fixed.length)
      .map((i) => fixed[i]!.arm),
  );
  const learned = bench.rows.filter((r) => r.phase === 'learn');
  const shareGood = (rs: JobRow[]) =>
    rs.length === 0 ? 0 : rs.filter((r) => goodArms.has(r.arm)).length / rs.length;
  const first10 = learned.slice(0, 10);
  const after10 = learned.slice(10);
  const last10Mean = mean(learned.slice(-10).map((r) => r.metrics.reward ?? 0));
  const ratio = last10Mean / best.meanReward;
  printFixed(fixed);
  printLearned(learned, goodArms, best.arm, jobs);
  const checks = {
    bestFixedArm: best.arm,
    bestOrNeighbour: [...goodArms],
    shareBestOrNeighbourFirst10: shareGood(first10),
    shareBestOrNeighbourAfter10: shareGood(after10),
    last10MeanReward: last10Mean,
    bestFixedMeanReward: best.meanReward,
    last10VsBestFixed: ratio,
    pickedWell: shareGood(first10) > 0.5 && shareGood(after10) > 0.5,
    reached95: ratio >= 0.95,
  };
  console.log(
    `\nbest fixed arm ${best.arm} (mean reward ${best.meanReward.toFixed(3)}); * best, ~ neighbour` +
      `\nbest or neighbour: ${(checks.shareBestOrNeighbourFirst10 * 100).toFixed(0)} % of jobs 1-10, ${(checks.shareBestOrNeighbourAfter10 * 100).toFixed(0)} % of jobs 11-${jobs}` +
      ` → "within 10 jobs picks the best arm or its neighbour most of the time": ${checks.pickedWell ? 'MET' : 'NOT MET'}` +
      `\nlast-10 mean reward ${last10Mean.toFixed(3)} = ${(ratio * 100).toFixed(1)} % of the best fixed arm → "≥ 95 %": ${checks.reached95 ? 'MET' : 'NOT MET'}`,
  );
  return { fixed, checks };
}

function printFixed(fixed: FixedArm[]): void {
  console.log('\nfixed arms (same run):');
  printTable([
    [
      'arm',
      'width',
      'items/agent',
      'runs',
      'CriticalSteps',
      'wall ms',
      'r_parallel',
      'r_finish',
      'r_perf',
      '429s/job',
      'mean reward',
    ],
    ...fixed.map((f) => [
      f.arm,
      String(f.width),
      String(f.itemsPerAgent),
      String(f.runs),
      f.meanCriticalSteps.toFixed(1),
      String(Math.round(f.meanWallClockMs)),
      f.meanRParallel.toFixed(3),
      f.meanRFinish.toFixed(3),
      f.meanRPerf.toFixed(3),
      f.refused429.toFixed(1),
      f.meanReward.toFixed(3),
    ]),
  ]);
}

function printLearned(learned: JobRow[], goodArms: Set<string>, bestArm: string, jobs: number): void {
  console.log(`\nlearning from scratch (policy learn, ${jobs} jobs):`);
  printTable([
    [
      'job',
      'arm',
      'width',
      'items/agent',
      'CriticalSteps',
      'wall ms',
      'r_finish',
      'r_perf',
      '429s',
      'reward',
    ],
    ...learned.map((r) => [
      String(r.index),
      `${r.arm}${goodArms.has(r.arm) ? (r.arm === bestArm ? ' *' : ' ~') : ''}`,
      String(r.width),
      String(r.itemsPerAgent),
      String(r.metrics.criticalSteps),
      String(r.metrics.wallClockMs),
      r.metrics.rFinish.toFixed(3),
      (r.metrics.rPerf ?? 0).toFixed(3),
      String(r.refused429),
      (r.metrics.reward ?? 0).toFixed(3),
    ]),
  ]);
}

/** How the learning jobs' CriticalSteps and reward settle, iteration by iteration (printed). */
function convergenceReport(rows: JobRow[]) {
  const iterations = rows
    .filter((r) => r.phase === 'learn')
    .map((r) => ({
      iteration: r.index,
      criticalSteps: r.metrics.criticalSteps,
      reward: r.metrics.reward ?? 0,
    }));
  const convergence = convergenceOf(iterations);
  console.log(
    `convergence: CriticalSteps ${convergence.firstCriticalSteps} at iteration 1 → ${convergence.finalCriticalSteps.toFixed(1)} (last ${convergence.window}), settled at iteration ${convergence.settledAt ?? '–'}; the mission claims 50 → 30 (10) → 22–25 (20)`,
  );
  return { iterations, convergence };
}
