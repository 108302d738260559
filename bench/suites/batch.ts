/**
 * The `batch` suite: an uploaded JSONL file of N subtasks (default 1,000) going the whole batch
 * path on the embedded stack: PutObject under incoming/<tenant>/ → S3 notification → batch queue
 * (fauxqs) → batch handler (Powertools batch) → idempotent submission → the synthesized workflow
 * (Distributed Map above 40 concurrent sub-agents, its items read from S3) → a stored terminal job.
 * Measures the time from the upload to the stored result, the job's own wall clock, the state
 * payload the plan hands the Map (and the item list it puts in S3), and the process's peak RSS.
 *
 *   npm run bench -- --suite batch [--subtasks 1000] [--reps 3] [--latency-scale 0] [--max-subagents 100] [--seed 1]
 */
import { cpus, totalmem } from 'node:os';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { EmbeddedStack } from '#local/runtime';
import { assignSubtasks } from '#shared/use-cases/plan-stage';
import { createTenant } from '#shared/use-cases/tenants';
import { type BenchArgs, median, numberArg, printTable, saveResult } from '../common';

const MiB = 2 ** 20;
/** The Step Functions state payload limit. */
const STATE_PAYLOAD_LIMIT = 256 * 1024;

interface Run {
  rep: number;
  jobId: string;
  status: string;
  uploadToResultMs: number;
  jobWallClockMs: number;
  subtasksAnswered: number;
  mapMode: string | undefined;
  criticalSteps: number | undefined;
  sequentialSteps: number | undefined;
  planPayloadBytes: number;
  /** The Distributed Map's item list in S3 (0 for an inline Map). */
  itemsObjectBytes: number;
  mapResultBytes: number;
}

export async function batchSuite(args: BenchArgs): Promise<void> {
  const subtasks = numberArg(args, 'subtasks', 1000);
  const reps = numberArg(args, 'reps', 3);
  const latencyScale = numberArg(args, 'latency-scale', 0);
  const maxSubagents = numberArg(args, 'max-subagents', 100);
  const seed = numberArg(args, 'seed', 1);

  const rssAtStart = process.memoryUsage().rss;
  const stack = await EmbeddedStack.boot({
    simulator: { seed, latencyScale },
    batch: { visibilityTimeoutSeconds: 10 },
  });
  // A tenant with a budget, as every batch job needs one (its reservation and usage are reported).
  const { tenant } = await createTenant(
    { tenants: stack.tenants, maxSubagentsCap: stack.config.maxSubagentsCap },
    { name: 'bench', budgetUsd: 1000, maxSubagents: stack.config.maxSubagentsCap },
  );
  const { tenantId } = tenant;
  const rssStackUp = process.memoryUsage().rss;
  let peakRss = rssStackUp;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 25);
  const runs: Run[] = [];
  let billing:
    | { usageRecords: number; costUsd: number; spentUsd: number; reservedUsdAfter: number }
    | undefined;
  try {
    for (let rep = 1; rep <= reps; rep++) {
      const { run, resultCount } = await runRep(stack, tenantId, rep, { subtasks, maxSubagents });
      runs.push(run);
      process.stderr.write(
        `rep ${rep}: ${run.status} · upload→result ${Math.round(run.uploadToResultMs)} ms · job wall ${run.jobWallClockMs} ms · ${resultCount} results · peak RSS so far ${Math.round(peakRss / MiB)} MiB\n`,
      );
    }
    const after = await stack.tenants.getTenant(tenantId);
    const usage = await stack.ledger.usage(tenantId, new Date().toISOString().slice(0, 7));
    billing = {
      usageRecords: usage.jobs,
      costUsd: usage.costUsd,
      spentUsd: after?.spentUsd ?? Number.NaN,
      reservedUsdAfter: after?.reservedUsd ?? Number.NaN,
    };
  } finally {
    clearInterval(sampler);
    await stack.close();
  }

  const result = {
    suite: 'batch',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    params: { subtasks, reps, latencyScale, maxSubagents, seed },
    summary: {
      succeeded: runs.filter((r) => r.status === 'SUCCEEDED').length,
      medianUploadToResultMs: median(runs.map((r) => r.uploadToResultMs)),
      medianJobWallClockMs: median(runs.map((r) => r.jobWallClockMs)),
      planPayloadBytes: Math.max(...runs.map((r) => r.planPayloadBytes)),
      itemsObjectBytes: Math.max(...runs.map((r) => r.itemsObjectBytes)),
      mapResultBytes: Math.max(...runs.map((r) => r.mapResultBytes)),
      statePayloadLimitBytes: STATE_PAYLOAD_LIMIT,
    },
    /** The tenant after every rep: one settled usage record per job, nothing left reserved. */
    billing,
    memory: {
      rssAtStartMiB: Math.round(rssAtStart / MiB),
      rssStackUpMiB: Math.round(rssStackUp / MiB),
      peakRssSampledMiB: Math.round(peakRss / MiB),
      /** The kernel's high-water mark for the whole process (resourceUsage().maxRSS). */
      maxRssMiB: Math.round((process.resourceUsage().maxRSS * 1024) / MiB),
    },
    runs,
  };
  printRuns(runs, subtasks);
  console.log(
    `median upload→result ${Math.round(result.summary.medianUploadToResultMs)} ms · median job wall ${Math.round(result.summary.medianJobWallClockMs)} ms · peak RSS ${result.memory.maxRssMiB} MiB (stack up ${result.memory.rssStackUpMiB} MiB) · state payload ${result.summary.planPayloadBytes} of ${STATE_PAYLOAD_LIMIT} bytes (item list in S3 ${result.summary.itemsObjectBytes} bytes) · ${subtasks} subtasks, ${reps} reps, latency scale ${latencyScale}`,
  );
  saveResult(args, 'batch', result);
}

/** One upload of `subtasks` lines, followed to its stored job. */
async function runRep(
  stack: EmbeddedStack,
  tenantId: string,
  rep: number,
  { subtasks, maxSubagents }: { subtasks: number; maxSubagents: number },
): Promise<{ run: Run; resultCount: number }> {
  const batch = stack.batch;
  if (!batch?.bucket) throw new Error('the local stack has no batch intake');
  const lines = Array.from({ length: subtasks }, (_, i) =>
    JSON.stringify({ id: `S${i}`, prompt: `What is ${i} + ${rep}?`, expected: String(i + rep) }),
  );
  const before = batch.startedJobs.length;
  const t0 = performance.now();
  await batch.events.s3.send(
    new PutObjectCommand({
      Bucket: batch.bucket,
      Key: `incoming/${tenantId}/bench-${rep}.jsonl`,
      Body: lines.join('\n'),
    }),
  );
  while (batch.startedJobs.length === before) await new Promise((r) => setTimeout(r, 10));
  const ref = batch.startedJobs[before]!;
  const { job } = await stack.wait(ref);
  const uploadToResultMs = performance.now() - t0;
  await batch.events.drained();
  const results = await stack.store.listResults(ref);
  const ids = (await stack.store.listSubtasks(ref)).map((s) => s.id);
  const agents = assignSubtasks(ids, 'parl');
  // What Plan returns into the state (the Map's input: the assignments inline, or where the
  // Distributed Map's ItemReader finds them in S3) and what the Map collects.
  const head = {
    jobId: ref.jobId,
    tenantId,
    stage: 1,
    maxConcurrency: job.plan?.maxConcurrency ?? maxSubagents,
    mapMode: job.plan?.mapMode,
  };
  const itemsKey = `items/${tenantId}/${ref.jobId}/stage-1.json`;
  const planPayloadBytes = Buffer.byteLength(
    JSON.stringify(
      job.plan?.mapMode === 'DISTRIBUTED'
        ? { ...head, items: { bucket: batch.bucket, key: itemsKey } }
        : { ...head, agents },
    ),
  );
  const itemsObjectBytes =
    job.plan?.mapMode === 'DISTRIBUTED' ? Buffer.byteLength(JSON.stringify(agents)) : 0;
  const mapResultBytes = Buffer.byteLength(
    JSON.stringify(agents.map((a) => ({ agentId: a.agentId, status: 'SUCCEEDED' }))),
  );
  const run: Run = {
    rep,
    jobId: ref.jobId,
    status: job.status,
    uploadToResultMs,
    jobWallClockMs: job.metrics?.wallClockMs ?? Number.NaN,
    subtasksAnswered: results.filter((r) => r.status === 'ANSWERED').length,
    mapMode: job.plan?.mapMode,
    criticalSteps: job.metrics?.criticalSteps,
    sequentialSteps: job.metrics?.sequentialSteps,
    planPayloadBytes,
    itemsObjectBytes,
    mapResultBytes,
  };
  return { run, resultCount: results.length };
}

function printRuns(runs: readonly Run[], subtasks: number): void {
  printTable([
    [
      'rep',
      'status',
      'upload→result ms',
      'job wall ms',
      'answered',
      'map',
      'CriticalSteps',
      'plan bytes',
      'map result bytes',
    ],
    ...runs.map((r) => [
      String(r.rep),
      r.status,
      String(Math.round(r.uploadToResultMs)),
      String(r.jobWallClockMs),
      `${r.subtasksAnswered}/${subtasks}`,
      r.mapMode ?? '-',
      String(r.criticalSteps ?? '-'),
      String(r.planPayloadBytes),
      String(r.mapResultBytes),
    ]),
  ]);
}
