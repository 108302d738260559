/**
 * The `limits` suite: the demo's sub-agents against the simulator playing a provider with limits,
 * through the shared limiter.
 *
 *   npm run bench -- --suite limits [--installations 100] [--window-ms 60000] [--tier0-window-ms 600]
 *                    [--latency-scale 1] [--seed 1] [--scenarios seed-key,tier0,unknown]
 *
 * Scenarios: `seed-key` (600 RPM, 50 in flight), `tier0` (Moonshot's lowest tier: 1 in flight,
 * 3 RPM, 500k TPM), `unknown` (no configured limits; the endpoint answers 429 above 4 in flight).
 * The tier-0 "minute" is compressed by default (3 RPM would make 100 sub-agents take over an hour);
 * the table says so for every scenario whose window is not 60 s.
 */
import { cpus } from 'node:os';
import { EmbeddedStack } from '#local/runtime';
import type { SimulatedLimits } from '#local/simulator/server';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { createRateLimiter } from '#shared/adapters/llm/client';
import { parseJobRequest } from '#shared/domain/request';
import type { StepRecord } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { type BenchArgs, numberArg, printTable, saveResult } from '../common';

interface Scenario {
  name: string;
  label: string;
  limits: SimulatedLimits;
  env: Record<string, string>;
  windowMs: number;
  /** The RPM the throughput is measured against (none: unknown limits). */
  rpm: number | undefined;
}

/**
 * Requests per window over the sub-agent phase, from the job's own steps: each step's successful
 * call started `durationMs` before its end (waits excluded). The orchestrator's final call is left
 * out: it cannot start before every sub-agent is done, whatever the limits.
 */
function subagentRate(steps: readonly StepRecord[], windowMs: number): number {
  const starts = steps
    .filter((s) => s.role === 'sub')
    .map((s) => Date.parse(s.endedAt) - s.durationMs)
    .sort((a, b) => a - b);
  const span = (starts.at(-1) ?? 0) - (starts[0] ?? 0);
  return span > 0 ? ((starts.length - 1) / span) * windowMs : Number.NaN;
}

/** The scenarios, with the seed key's window and the compressed tier-0 window. */
function scenariosOf(windowMs: number, tier0WindowMs: number): Scenario[] {
  return [
    {
      name: 'seed-key',
      label: '600 RPM, 50 in flight',
      limits: { maxConcurrency: 50, rpm: 600, windowMs },
      env: {
        PARL_PROVIDER_MAX_CONCURRENCY: '50',
        PARL_PROVIDER_RPM: '600',
        PARL_PROVIDER_WINDOW_MS: String(windowMs),
      },
      windowMs,
      rpm: 600,
    },
    {
      name: 'tier0',
      label: 'moonshot-tier0: 1 in flight, 3 RPM',
      limits: { maxConcurrency: 1, rpm: 3, tpm: 500_000, windowMs: tier0WindowMs },
      env: { PARL_PROVIDER_TIER: 'moonshot-tier0', PARL_PROVIDER_WINDOW_MS: String(tier0WindowMs) },
      windowMs: tier0WindowMs,
      rpm: 3,
    },
    {
      name: 'unknown',
      label: 'unknown limits, 429 above 4 in flight',
      limits: { maxConcurrency: 4, retryAfter: 'never' },
      env: { PARL_PROVIDER_MAX_CONCURRENCY: '32', PARL_PROVIDER_COOLDOWN_MS: '100' },
      windowMs: 60_000,
      rpm: undefined,
    },
  ];
}

type Params = { installations: number; latencyScale: number; seed: number };

export async function limitsSuite(args: BenchArgs): Promise<void> {
  const installations = numberArg(args, 'installations', 100);
  const windowMs = numberArg(args, 'window-ms', 60_000);
  const tier0WindowMs = numberArg(args, 'tier0-window-ms', 600);
  const latencyScale = numberArg(args, 'latency-scale', 1);
  const seed = numberArg(args, 'seed', 1);
  const wanted = (args.scenarios ?? 'seed-key,tier0,unknown').split(',');
  const all = scenariosOf(windowMs, tier0WindowMs);
  const scenarios = all.filter((s) => wanted.includes(s.name));
  if (scenarios.length === 0) {
    console.error(`bench: --scenarios must name some of ${all.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const rows = [];
  for (const scenario of scenarios)
    rows.push(await runScenario(scenario, { installations, latencyScale, seed }));
  const result = {
    suite: 'limits',
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    params: { installations, windowMs, tier0WindowMs, latencyScale, seed },
    rows,
  };
  printRows(rows);
  console.log(
    `${installations} sub-agents per scenario, latency scale ${latencyScale} (× the window's compression), seed ${seed}. "achieved RPM (job)" = requests the simulator admitted per window over the span they were sent in; "(sub-agents)" = the same over the sub-agent phase, from the job's steps (the final orchestrator call must wait for every sub-agent whatever the limits); "% of RPM limit" uses the latter. A COMPRESSED window means the provider's "minute" (limiter and simulator alike) and the model's latency were shortened by that factor.`,
  );
  saveResult(args, 'limits', result);
}

/** Runs the demo on a stack whose simulator plays the scenario's provider; returns its row. */
async function runScenario(scenario: Scenario, params: Params) {
  const { installations, latencyScale, seed } = params;
  // A compressed window compresses the model's latency alike, so limits and latency keep their ratio.
  const scale = latencyScale * (scenario.windowMs / 60_000);
  const stack = await EmbeddedStack.boot({
    simulator: { seed, latencyScale: scale, verdictErrorRate: 0.03, limits: scenario.limits },
    env: scenario.env,
  });
  try {
    const request = parseJobRequest(bmaDemoRequest(installations, seed), { maxSubagentsCap: 1000 });
    const { job, steps } = await stack.run(request);
    const sim = stack.simulator!.stats();
    const seen = stack.simulator!.providerStats();
    const m = job.metrics;
    if (!m?.provider) throw new Error(`job ${job.jobId} has no metrics: ${job.status} ${job.error ?? ''}`);
    const { first, last } = {
      first: seen.limits.firstAdmittedAt ?? 0,
      last: seen.limits.lastAdmittedAt ?? 0,
    };
    // Admitted requests per window over the span they were sent in (n − 1 gaps between n starts).
    const perWindow =
      last > first ? ((seen.limits.admitted - 1) / (last - first)) * scenario.windowMs : Number.NaN;
    const limiter = createRateLimiter(stack.config, 'simulator', createDynamoDocumentClient(stack.config));
    const ceiling = limiter ? (await limiter.snapshot()).state.ceiling : Number.NaN;
    const subRate = subagentRate(steps, scenario.windowMs);
    const row = {
      scenario: scenario.name,
      latencyScale: scale,
      subagentRequestsPerWindow: subRate,
      label: scenario.label,
      windowMs: scenario.windowMs,
      compressed: scenario.windowMs !== 60_000 ? 60_000 / scenario.windowMs : 1,
      status: job.status,
      requestsPerWindow: perWindow,
      fractionOfRpm: scenario.rpm ? subRate / scenario.rpm : null,
      maxRequestsInOneWindow: seen.limits.maxRequestsPerWindow,
      maxInFlight: sim.maxInFlight,
      meanInFlight: seen.limits.meanAdmittedInFlight,
      limiterCeiling: ceiling,
      rateLimited: seen.limits.rateLimited,
      retries: m.provider.retries,
      calls: m.provider.calls,
      simulatorChatRequests: seen.chatRequests,
      failedSubagents: m.subagents.spawned - m.subagents.completed,
      rFinish: m.rFinish,
      wallClockMs: m.wallClockMs,
      tokensMatch:
        m.tokens.input === sim.promptTokens &&
        m.tokens.output === sim.completionTokens &&
        m.tokens.cachedInput === sim.cachedTokens,
      steps: steps.length,
    };
    process.stderr.write(`${scenario.name}: ${job.status} in ${m.wallClockMs} ms\n`);
    return row;
  } finally {
    await stack.close();
  }
}

type Row = Awaited<ReturnType<typeof runScenario>>;

function printRows(rows: Row[]): void {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  printTable([
    [
      'scenario',
      'window',
      'achieved RPM (job)',
      'achieved RPM (sub-agents)',
      '% of RPM limit',
      'max in 1 window',
      'max in flight',
      'mean in flight',
      'limiter ceiling',
      '429s',
      'retries',
      'failed sub-agents',
      'r_finish',
      'wall-clock s',
      'tokens = simulator',
    ],
    ...rows.map((r) => [
      `${r.scenario} (${r.label})`,
      r.compressed === 1 ? '60 s' : `${r.windowMs} ms (×${f(r.compressed, 0)} COMPRESSED)`,
      f(r.requestsPerWindow),
      f(r.subagentRequestsPerWindow),
      r.fractionOfRpm === null ? 'n/a' : `${f(r.fractionOfRpm * 100)} %`,
      String(r.maxRequestsInOneWindow),
      String(r.maxInFlight),
      f(r.meanInFlight, 2),
      f(r.limiterCeiling, 2),
      String(r.rateLimited),
      String(r.retries),
      String(r.failedSubagents),
      f(r.rFinish, 3),
      f(r.wallClockMs / 1000),
      r.tokensMatch ? 'yes' : 'NO',
    ]),
  ]);
}
