/**
 * One job of the `load` suite, in a process of its own (so that its peak RSS is its own): boots the
 * embedded stack, runs `size` one-call sub-agents, checks what it stored against the steps and
 * prints one JSON line ({@link LoadRow}) on stdout as its last line.
 *
 *   tsx bench/suites/load-job.ts <size> <latencyScale> <maxSubagents> <seed> <limiter on|off> [repeat]
 *
 * With `repeat` above 1, the same job runs that many times more on the same stack after the first:
 * the row is the first job's (a fresh process: code not yet optimised by V8, first connections),
 * `warm` holds the others' wall-clock and overhead (a stack that has run a job, as a long-lived
 * service or a warm Lambda is).
 */
import { EmbeddedStack } from '#local/runtime';
import { computeJobMetrics } from '#shared/domain/measures';
import { parseJobRequest } from '#shared/domain/request';
import type { JobRecord } from '#shared/ports/job-store';
import { boundOf, type LoadPhases, phasesOf } from './load-bound';
import { type ThreadUse, watchThreads } from './thread-use';

/** What one load job measured. */
export interface LoadRow {
  size: number;
  latencyScale: number;
  maxSubagents: number;
  /** The shared limiter (on: every model call takes a lease in DynamoDB). */
  limiter?: 'on' | 'off';
  status: string;
  error?: string;
  mapMode?: string;
  /** Accepted → stored result, as the job's measures say. */
  wallClockMs: number;
  /** Submit → the run returned, on this process's clock (booting excluded). */
  runMs: number;
  subagentsPerSecond: number;
  criticalPathMs: number;
  overhead: number;
  /**
   * The job's schedule bound from the latencies the simulator modelled (not from the recorded step
   * durations, which also hold the time this process's busy event loop kept an answer waiting):
   * the slowest sub-agent call plus the synthesizer's call. Undefined at latency ×0.
   */
  boundMs?: number;
  /** wallClockMs / boundMs: the runtime's whole cost over an ideal one with the same provider. */
  overBound?: number;
  /** Where the wall-clock went, from the stored steps ({@link phasesOf}). */
  phases?: LoadPhases;
  /** How busy the threads were from submit to the run's return ({@link watchThreads}). */
  threads?: ThreadUse;
  peakRssBytes: number;
  /**
   * The most live memory (heap and the bytes of Buffers) seen at a progress report, after a full GC
   * (the parent starts this process with --expose-gc), less that once the stack had booted: what
   * the run holds, without the garbage V8 has not collected yet (which RSS includes).
   */
  liveHeapGrowthBytes?: number;
  /** {@link liveHeapGrowthBytes} per sub-agent. */
  liveHeapPerSubagentBytes?: number;
  agentRecords: number;
  /** One count of the finished sub-agents at the end (what each progress report of `parl run` costs). */
  progressCountMs?: number;
  stepRecords: number;
  modelCalls: number;
  dynamoRequests: number;
  dynamoRequestsPerModelCall: number;
  dynamoByOperation: Record<string, number>;
  /** The stored measures equal those recomputed from the stored steps. */
  measuresRecompute: boolean;
  /** The same job run again on the same stack (`repeat` above 1), in order. */
  warm?: WarmRun[];
}

/** One more run of the job on a stack that has run it before. */
export interface WarmRun {
  status: string;
  wallClockMs: number;
  criticalPathMs: number;
  overhead: number;
  boundMs?: number;
  overBound?: number;
  phases?: LoadPhases;
  threads?: ThreadUse;
}

/** The job's request: `size` arithmetic subtasks of the generic workload, one model call each. */
export function loadRequest(size: number, maxSubagents: number, seed: number) {
  const subtasks = Array.from({ length: size }, (_, i) => {
    const a = ((seed * 31 + i * 7) % 90) + 10;
    const b = ((seed * 17 + i * 13) % 90) + 10;
    return {
      id: `q${String(i + 1).padStart(5, '0')}`,
      prompt: `What is ${a} + ${b}?`,
      expected: String(a + b),
    };
  });
  return parseJobRequest(
    { task: `Answer ${size} arithmetic questions`, subtasks, maxSubagents, itemsPerAgent: 1 },
    { maxSubagentsCap: Math.max(maxSubagents, 1) },
  );
}

/** Whether the job's stored measures are what its step records give, computed again. */
function recomputesFromSteps(
  job: JobRecord,
  steps: Parameters<typeof computeJobMetrics>[0]['steps'],
): boolean {
  const m = job.metrics;
  if (!m) return false;
  const again = computeJobMetrics({
    steps,
    spawned: m.subagents.spawned,
    completed: m.subagents.completed,
    correct: 0,
    scored: 0,
    acceptedAt: job.acceptedAt,
    finishedAt: job.finishedAt ?? job.acceptedAt,
  });
  return (
    again.criticalSteps === m.criticalSteps &&
    again.sequentialSteps === m.sequentialSteps &&
    again.criticalPathMs === m.criticalPathMs &&
    again.wallClockMs === m.wallClockMs
  );
}

/**
 * What the process holds after a full GC: the live heap and the memory outside it that JS objects
 * own (Buffers' and ArrayBuffers' bytes); undefined without --expose-gc.
 */
function liveHeapBytes(): number | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  gc();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

/** The embedded stack with the simulator on its own thread, the provider's limits set not to bind. */
function bootStack(seed: number, latencyScale: number, maxSubagents: number, limiter: 'on' | 'off') {
  return EmbeddedStack.boot({
    simulator: { seed, latencyScale, recordLatencies: true },
    simulatorThread: true,
    env: {
      PARL_MAX_SUBAGENTS_CAP: String(Math.max(maxSubagents, 1000)),
      PARL_PROVIDER_MAX_CONCURRENCY: String(Math.max(2000, 2 * maxSubagents)),
      PARL_PROVIDER_RPM: '100000000',
      PARL_PROVIDER_TPM: '100000000000',
      PARL_PROVIDER_LIMITER: limiter,
    },
  });
}

/** How long one count of the job's finished sub-agents takes (what each progress report costs). */
async function timeProgressCount(stack: EmbeddedStack, job: JobRecord): Promise<number> {
  const started = performance.now();
  await stack.store.countFinishedAgents(job, job.plan?.stage ?? 1);
  return Math.round(performance.now() - started);
}

/** Runs `request` `times` more on `stack`, one after another, and returns each job's timings. */
async function runAgain(
  stack: EmbeddedStack,
  request: ReturnType<typeof loadRequest>,
  times: number,
): Promise<WarmRun[]> {
  const runs: WarmRun[] = [];
  for (let i = 0; i < times; i++) {
    const before = (await stack.simulatorThread?.modelledLatencies())?.length ?? 0;
    const watch = watchOf(stack);
    const { job, steps } = await stack.run(request);
    const threads = watch.stop();
    const m = job.metrics;
    const wallClockMs = m?.wallClockMs ?? Number.NaN;
    const phases = phasesOf(job, steps);
    runs.push({
      status: job.status,
      wallClockMs,
      criticalPathMs: m?.criticalPathMs ?? 0,
      overhead: m?.overhead ?? Number.NaN,
      ...boundOf((await stack.simulatorThread?.modelledLatencies())?.slice(before) ?? [], wallClockMs),
      ...(phases ? { phases } : {}),
      threads,
    });
  }
  return runs;
}

/** Watches the main thread and the stack's dynalite and simulator threads ({@link watchThreads}). */
function watchOf(stack: EmbeddedStack) {
  const simulator = stack.simulatorThread;
  return watchThreads({
    dynalite: stack.dynamo.threadUse,
    ...(simulator ? { simulator: () => simulator.threadUse() } : {}),
  });
}

async function main(): Promise<void> {
  const [size, latencyScale, maxSubagents, seed] = process.argv.slice(2, 6).map(Number) as [
    number,
    number,
    number,
    number,
  ];
  const limiter = process.argv[6] === 'off' ? 'off' : 'on';
  const repeat = Math.max(1, Number(process.argv[7] ?? 1));
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 500);
  const stack = await bootStack(seed, latencyScale, maxSubagents, limiter);
  const bootHeap = liveHeapBytes();
  let peakHeap = bootHeap;
  try {
    const request = loadRequest(size, maxSubagents, seed);
    const dynamoBefore = { ...stack.dynamo.requests };
    const started = Date.now();
    const watch = watchOf(stack);
    // Progress every 10 s: each report counts the stage's agent records (a query over all of them).
    const accepted = await stack.submit(request, 'load');
    const { job, steps } = await stack.wait(
      accepted,
      (p) => {
        const rss = Math.round(process.memoryUsage.rss() / 2 ** 20);
        const heap = liveHeapBytes();
        if (heap !== undefined) peakHeap = Math.max(peakHeap ?? heap, heap);
        const live = heap === undefined ? '' : `, live heap ${Math.round(heap / 2 ** 20)} MiB`;
        process.stderr.write(
          `  ${p.status} ${p.finishedAgents}/${p.agents} sub-agents, ${Math.round(p.elapsedMs / 1000)} s, RSS ${rss} MiB${live}\n`,
        );
      },
      10_000,
    );
    const runMs = Date.now() - started;
    const threads = watch.stop();
    const dynamoByOperation = Object.fromEntries(
      Object.entries(stack.dynamo.requests).map(([op, n]) => [op, n - (dynamoBefore[op] ?? 0)]),
    );
    const dynamoRequests = Object.values(dynamoByOperation).reduce((a, b) => a + b, 0);
    const progressCountMs = await timeProgressCount(stack, job);
    const agents = await stack.store.listAgents(job);
    const modelCalls = (await stack.simulatorThread?.stats())?.requests ?? 0;
    const m = job.metrics;
    const measuresRecompute = recomputesFromSteps(job, steps);
    const phases = phasesOf(job, steps);
    peakRss = Math.max(peakRss, process.memoryUsage.rss(), process.resourceUsage().maxRSS * 1024);
    const row: LoadRow = {
      size,
      latencyScale,
      maxSubagents,
      limiter,
      status: job.status,
      ...(job.error ? { error: job.error } : {}),
      ...(job.plan ? { mapMode: job.plan.mapMode } : {}),
      wallClockMs: m?.wallClockMs ?? runMs,
      runMs,
      subagentsPerSecond: size / ((m?.wallClockMs ?? runMs) / 1000),
      criticalPathMs: m?.criticalPathMs ?? 0,
      overhead: m?.overhead ?? Number.NaN,
      ...boundOf((await stack.simulatorThread?.modelledLatencies()) ?? [], m?.wallClockMs ?? runMs),
      ...(phases ? { phases } : {}),
      threads,
      peakRssBytes: peakRss,
      ...(bootHeap !== undefined && peakHeap !== undefined
        ? {
            liveHeapGrowthBytes: peakHeap - bootHeap,
            liveHeapPerSubagentBytes: Math.round((peakHeap - bootHeap) / size),
          }
        : {}),
      progressCountMs,
      agentRecords: agents.filter((a) => !['planner', 'synthesizer'].includes(a.agentId)).length,
      stepRecords: steps.length,
      modelCalls,
      dynamoRequests,
      dynamoRequestsPerModelCall: modelCalls > 0 ? dynamoRequests / modelCalls : Number.NaN,
      dynamoByOperation,
      measuresRecompute,
    };
    if (repeat > 1) row.warm = await runAgain(stack, request, repeat - 1);
    process.stdout.write(`${JSON.stringify(row)}\n`);
  } finally {
    clearInterval(sampler);
    await stack.close();
  }
}

await main();
