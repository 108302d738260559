// First: the X-Ray SDK must not hook every promise of this process (see the module).
import '#local/untraced-process';
import { readFileSync } from 'node:fs';
import { batchCommand } from '#cli/commands/batch/index';
import { jobsCommand } from '#cli/commands/jobs/index';
import { POLICY_HELP, policyCommand } from '#cli/commands/policy';
import { probeCommand } from '#cli/commands/probe';
import { serveCommand } from '#cli/commands/serve';
import { stackCommand } from '#cli/commands/stack';
import { tenantsCommand } from '#cli/commands/tenants';
import { TRAJECTORIES_HELP, trajectoriesCommand } from '#cli/commands/trajectories';
import type { JobOutcome, ProgressEvent } from '#local/runtime';
import { compareSteps, computeJobMetrics } from '#shared/domain/measures';
import { POLICY_MODES } from '#shared/domain/policy';
import { parseJobRequest } from '#shared/domain/request';
import type { JobRequest, StepRecord } from '#shared/domain/types';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { dropSqliteWarning, logsToStderr, reportErrors } from './console';
import { dataDirOf, dynamoPathOf, readServeInfo } from './data-dir';
import { intFlag, numberFlag, parseFlags, UsageError } from './flags';
import {
  modelEndpoint,
  PROVIDER_FLAG_OPTIONS,
  PROVIDER_HELP,
  type ProviderChoice,
  parseProviderFlags,
  providerLine,
} from './provider-flags';
import { localMaxSubagentsCap, MAX_SUBAGENTS_PER_JOB } from './run-caps';
import { takeStackFlags } from './stack';
import { didYouMean } from './suggest';

export { UsageError };

const HELP = `parl: run PARL agent-swarm jobs on the embedded local stack

Usage:
  parl run [options]         run a job (default: the demo, 100 fire-alarm installations)
  parl policy show [--tenant T] [--task-class C] [--json] [--data-dir D]
                             the fan-out policies: arms, counts, mean rewards
  parl trajectories export [--tenant T] [--since ISO] [--data-dir D] > trajectories.jsonl
                             one JSON line per finished job, for offline RL
  parl serve [options]       the REST API on loopback, state in .parl/ (parl serve --help)
  parl tenants <command>     create tenants, budgets and API keys (parl tenants --help)
  parl jobs <command>        list|show|steps|watch|cancel|trace a tenant's jobs on parl serve (parl jobs --help)
  parl batch submit <file>   send a JSONL/CSV file through the batch queue or uploads bucket (parl batch --help)
  parl batch status          queue depth, in flight, DLQ depth and jobs started of the batch intake
  parl probe [--base-url URL --model M] [--requests 100] [--concurrency 100]
                             latency, first token, tokens/s, 429s of an endpoint; the width to run (parl probe --help)
  parl --stack <name> [--region R] <command>
                             tenants, policy, trajectories and outputs of a deployed stack
                             (parl --stack <name> help)
  parl help [command]        this text, or a command's (as parl <command> --help)
  parl --version             the version

Options of run:
  --task "<text>"            a free-text task; the orchestrator decomposes it
  --input <job.json>         a job request: {task, subtasks?, mode?, maxSubagents?, maxOutputTokens?, ...}
  --mode parl|sequential     fan out (default) or one agent doing everything
  --max-subagents N          sub-agents at once (1..cap, default 100; cap PARL_MAX_SUBAGENTS_CAP or 50000)
  --policy off|learn|greedy  the task class's fan-out policy: off (default), learn (Thompson
                             sampling), greedy (best mean); --max-subagents pins the width
  --installations N          size of the demo, 1..50000 (default 100)
  --seed N                   seed of the demo data and the simulator (default 1)
  --error-rate R             simulator: share of wrong verdicts, 0..1 (default 0.03)
  --latency-scale X          simulator: latency multiplier, 0 = instant (default 1)
  --data-dir <dir>           keep the job and what the policy learned in <dir> (e.g. .parl), so
                             the next run with the same --data-dir learns on; in memory when unset
  --bundled                  run the esbuild bundles \`cdk synth\` makes for Lambda, not the TypeScript
  --json                     print exactly one JSON document on stdout
  --quiet                    no progress on stderr
  --verbose                  handler logs on stderr
  -h, --help                 this text

policy show and trajectories export read the data directory (--data-dir, default PARL_DATA_DIR or
.parl), through the running parl serve when there is one; --tenant defaults to "local", the tenant
of parl run.

${PROVIDER_HELP}

Model endpoint: without MOONSHOT_API_KEY or MOONSHOT_BASE_URL the built-in Moonshot simulator
runs on 127.0.0.1. Set MOONSHOT_API_KEY (and optionally MOONSHOT_BASE_URL, default
https://api.moonshot.ai/v1, and MOONSHOT_MODEL, default kimi-k2.5) to use a real endpoint; for
Ollama: MOONSHOT_BASE_URL=http://localhost:11434/v1 MOONSHOT_MODEL=<model>.

Exit codes: 0 job SUCCEEDED, 1 job FAILED, 2 bad input (nothing was started).`;

export interface RunOptions {
  request: JobRequest;
  seed: number;
  errorRate: number;
  latencyScale: number;
  json: boolean;
  bundled: boolean;
  quiet: boolean;
  verbose: boolean;
  provider: ProviderChoice;
  /** Keep the job (and what the policy learned) in this data directory; in memory when unset. */
  dataDir: string | undefined;
}

/** Parses `parl run` arguments into a validated request; throws UsageError with a clear message. */
export function parseRunArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): RunOptions {
  const parsed = parseFlags(argv, {
    task: { type: 'string' },
    input: { type: 'string' },
    mode: { type: 'string' },
    'max-subagents': { type: 'string' },
    policy: { type: 'string' },
    installations: { type: 'string' },
    seed: { type: 'string' },
    'error-rate': { type: 'string' },
    'latency-scale': { type: 'string' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
    bundled: { type: 'boolean' },
    quiet: { type: 'boolean' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...PROVIDER_FLAG_OPTIONS,
  });
  const { values: v, str } = parsed;
  const cap = localMaxSubagentsCap(env);
  const seed = intFlag('seed', str('seed'), 0, 2 ** 31 - 1) ?? 1;
  const mode = str('mode');
  if (mode !== undefined && mode !== 'parl' && mode !== 'sequential') {
    throw new UsageError(`--mode must be "parl" or "sequential", got "${mode}"`);
  }
  const maxSubagents = intFlag('max-subagents', str('max-subagents'), 1, cap);
  const policy = str('policy');
  if (policy !== undefined && !(POLICY_MODES as readonly string[]).includes(policy)) {
    throw new UsageError(`--policy must be "off", "learn" or "greedy", got "${policy}"`);
  }
  const provider = parseProviderFlags(str);
  if (str('task') !== undefined && str('input') !== undefined)
    throw new UsageError('give --task or --input, not both');
  const raw = rawRequest(str, seed);
  if (mode !== undefined) raw.mode = mode;
  if (maxSubagents !== undefined) raw.maxSubagents = maxSubagents;
  if (policy !== undefined) raw.policy = policy;
  let request: JobRequest;
  try {
    request = parseJobRequest(raw, { maxSubagentsCap: cap });
  } catch (error) {
    throw new UsageError(`invalid job request: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  return {
    request,
    seed,
    errorRate: numberFlag('error-rate', str('error-rate'), 0, 1) ?? 0.03,
    latencyScale: numberFlag('latency-scale', str('latency-scale'), 0, 100) ?? 1,
    json: v.json === true,
    bundled: v.bundled === true,
    quiet: v.quiet === true,
    verbose: v.verbose === true,
    provider,
    dataDir: str('data-dir') === undefined ? undefined : dataDirOf(str('data-dir')),
  };
}

/** The job request before validation: `--input`'s file, `--task`'s text, else the demo of `--installations`. */
function rawRequest(str: (name: string) => string | undefined, seed: number): Record<string, unknown> {
  const input = str('input');
  if (input !== undefined) return readJsonObject(input);
  if (str('task') !== undefined) return { task: str('task') };
  return bmaDemoRequest(
    intFlag('installations', str('installations'), 1, MAX_SUBAGENTS_PER_JOB) ?? 100,
    seed,
  );
}

/** The JSON object in the file of `--input`; UsageError when it cannot be read or is not one. */
function readJsonObject(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--input ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      { cause: error },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--input ${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new UsageError(`--input ${path} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

/** The steps as `--json` reports them: one entry per step (the last attempt), in a stable order. */
export function reportSteps(steps: readonly StepRecord[]) {
  return [...steps].sort(compareSteps).map((s) => ({
    stage: s.stage,
    role: s.role,
    agentId: s.agentId,
    step: s.step,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    durationMs: s.durationMs,
    inputTokens: s.inputTokens,
    outputTokens: s.outputTokens,
    cachedInputTokens: s.cachedInputTokens,
    status: s.status,
    attempt: s.attempt,
  }));
}

/** The `--json` document of a finished job. */
export function jsonReport(outcome: JobOutcome) {
  const { job } = outcome;
  return {
    jobId: job.jobId,
    status: job.status,
    mode: job.request.mode,
    ...(job.error ? { error: job.error } : {}),
    acceptedAt: job.acceptedAt,
    finishedAt: job.finishedAt,
    plan: job.plan,
    metrics: job.metrics,
    steps: reportSteps(outcome.steps),
    result: job.result,
  };
}

const fmt = (n: number, digits = 3) => (Number.isFinite(n) ? n.toFixed(digits) : String(n));
const int = (n: number) => n.toLocaleString('en-US');

/** The human summary of a finished job. */
export function textReport(outcome: JobOutcome): string {
  const { job } = outcome;
  const m =
    job.metrics ??
    computeJobMetrics({
      steps: outcome.steps,
      spawned: 0,
      completed: 0,
      correct: 0,
      scored: 0,
      acceptedAt: job.acceptedAt,
      finishedAt: job.finishedAt ?? job.acceptedAt,
    });
  const plan = job.plan
    ? `${job.plan.agents} sub-agents, width ${job.plan.maxConcurrency}, ${job.plan.mapMode.toLowerCase()} map`
    : 'not planned';
  const lines = [
    `PARL Swarm · job ${job.jobId} · ${job.status} (${job.request.mode}; ${plan})`,
    ...(job.error ? [`  reason      ${job.error}`] : []),
    ...(m.unscoredReason
      ? [`  unscored    ${m.unscoredReason}: no speedup, reward or flags (${m.sequentialSteps} failed steps)`]
      : [
          `  steps       CriticalSteps ${m.criticalSteps} vs SequentialSteps ${m.sequentialSteps} → step speedup ${fmt(m.stepSpeedup, 1)}×`,
          `  time        wall-clock ${int(m.wallClockMs)} ms vs critical path ${int(m.criticalPathMs)} ms → overhead ${fmt(m.overhead, 2)} (sequential ${int(m.sequentialMs)} ms)`,
          `  reward      r_parallel ${fmt(m.rParallel)} · r_finish ${fmt(m.rFinish)} · r_perf ${m.rPerf === null ? 'unscored' : fmt(m.rPerf)} → rPARL ${m.reward === null ? 'unscored (no ground truth)' : fmt(m.reward)}  (λ ${m.weights.parallel}/${m.weights.finish}/${m.weights.perf})`,
        ]),
    `  sub-agents  ${m.subagents.completed} of ${m.subagents.spawned} completed`,
    `  tokens      input ${int(m.tokens.input)} (cached ${int(m.tokens.cachedInput)}) · output ${int(m.tokens.output)} → cost $${m.costUsd.toFixed(4)}`,
    ...(m.aws && m.awsCostUsd !== undefined
      ? [
          `  aws         ${int(m.aws.stateTransitions)} transitions · ${fmt(m.aws.lambdaGbSeconds, 1)} Lambda GB-s · ${int(m.aws.dynamoWriteUnits)} WRU / ${int(m.aws.dynamoReadUnits)} RRU · ${int(m.aws.s3PutRequests + m.aws.s3GetRequests)} S3 requests → $${m.awsCostUsd.toFixed(4)} (estimated, us-east-1)`,
          `  total       $${(m.totalCostUsd ?? m.costUsd + m.awsCostUsd).toFixed(4)} (tokens + AWS)`,
        ]
      : []),
    ...(m.provider ? [`  provider    ${providerLine(m.provider)}`] : []),
  ];
  const policy = job.plan?.policy;
  if (policy) {
    const budget = job.plan?.budget;
    lines.push(
      `  policy      ${policy.mode} · task class ${policy.taskClass} · arm ${policy.armId ?? '–'}${policy.reason ? ` (${policy.reason})` : ''}${policy.pinned.length > 0 ? `, pinned ${policy.pinned.join(', ')}` : ''} → width ${policy.width}, ${policy.itemsPerAgent} per sub-agent${budget ? ` · budget ${budget.budget}${budget.reduced ? ` of ${budget.fullBudget} (TOGGLE)` : ''}` : ''}`,
    );
  }
  const flagged = [
    ...(m.flags?.serialCollapse ? ['serial collapse'] : []),
    ...(m.flags?.spuriousParallelism ? ['spurious parallelism'] : []),
  ];
  if (flagged.length > 0) lines.push(`  flags       ${flagged.join(', ')}`);
  const cut = job.result?.summary.cut;
  if (cut) lines.push(`  cut         ${cut} answer(s) cut at the output-token limit (finish_reason length)`);
  const answer = job.result?.answer?.trim();
  if (answer) lines.push(`  answer      ${answer.split('\n').slice(0, 6).join('\n              ')}`);
  return lines.join('\n');
}

/** Without a terminal, a progress line at least this often (a heartbeat), and whenever a quarter is done. */
const HEARTBEAT_MS = 5000;

/** Progress on stderr: one line rewritten on a terminal; else a line per quarter done and a heartbeat. */
export function progressPrinter(
  quiet: boolean,
  out: { isTTY?: boolean; write(text: string): unknown } = process.stderr,
): (p: ProgressEvent) => void {
  if (quiet) return () => undefined;
  const tty = out.isTTY === true;
  let last = '';
  let lastAt = 0;
  return (p) => {
    const line =
      p.agents > 0
        ? `${p.status.toLowerCase()} · ${p.finishedAgents}/${p.agents} sub-agents finished · ${(p.elapsedMs / 1000).toFixed(1)} s`
        : `${p.status.toLowerCase()} · planning · ${(p.elapsedMs / 1000).toFixed(1)} s`;
    if (tty) out.write(`\r\x1b[2K${line}`);
    else {
      const key = `${p.status}:${p.agents > 0 ? Math.floor((p.finishedAgents / p.agents) * 4) : -1}`;
      if (key !== last || p.elapsedMs - lastAt >= HEARTBEAT_MS) {
        out.write(`${line}\n`);
        lastAt = p.elapsedMs;
      }
      last = key;
    }
  };
}

/** `parl run`: starts the local stack, runs one job, prints the report. Returns the exit code. */
export async function runCommand(argv: string[]): Promise<number> {
  const opts = parseRunArgs(argv);
  // Loaded only now, so --help and bad input answer at once.
  const { EmbeddedStack } = await import('#local/runtime');
  if (opts.dataDir) {
    const running = readServeInfo(opts.dataDir);
    if (running) {
      throw new UsageError(
        `parl serve (pid ${running.pid}) has ${opts.dataDir} open: submit the job to ${running.apiUrl}/v1/jobs, or stop the server`,
      );
    }
  }
  const { realBaseUrl, ...endpoint } = modelEndpoint(opts.provider, {
    seed: opts.seed,
    verdictErrorRate: opts.errorRate,
    latencyScale: opts.latencyScale,
  });
  const stack = await EmbeddedStack.boot({
    ...endpoint,
    env: { ...endpoint.env, PARL_MAX_SUBAGENTS_CAP: String(localMaxSubagentsCap(process.env)) },
    logLevel: opts.verbose ? 'INFO' : 'SILENT',
    code: opts.bundled ? 'bundled' : 'source',
    simulatorThread: true,
    ...(opts.dataDir ? { dataPath: dynamoPathOf(opts.dataDir) } : {}),
  });
  try {
    if (!opts.quiet) {
      process.stderr.write(
        `local stack up: ${realBaseUrl ? `model endpoint ${realBaseUrl}` : `Moonshot simulator ${stack.simulatorUrl}`} · DynamoDB ${stack.dynamo.endpoint}\n`,
      );
    }
    const outcome = await stack.run(opts.request, progressPrinter(opts.quiet));
    if (!opts.quiet && process.stderr.isTTY) process.stderr.write('\n');
    process.stdout.write(
      `${opts.json ? JSON.stringify(jsonReport(outcome), null, 2) : textReport(outcome)}\n`,
    );
    return outcome.job.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    await stack.close();
  }
}

/**
 * The commands of `parl` by name. Each takes its own arguments and returns the exit code; a
 * UsageError it throws is printed as one message with exit code 2. New commands live in their own
 * file and add one line here (and a line in HELP).
 */
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  run: runCommand,
  batch: batchCommand,
  policy: policyCommand,
  probe: probeCommand,
  trajectories: trajectoriesCommand,
  serve: serveCommand,
  tenants: (argv) => tenantsCommand(argv),
  jobs: (argv) => jobsCommand(argv),
};

/** Commands whose help `main` prints; the others answer `--help` themselves. */
const HELP_OF: Record<string, string> = { run: HELP, policy: POLICY_HELP, trajectories: TRAJECTORIES_HELP };

const version = () =>
  (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;

/** Entry point of `parl` and `npm start`. */
export async function main(argv: string[]): Promise<number> {
  dropSqliteWarning();
  if (argv.includes('--verbose')) logsToStderr();
  if (argv.some((arg) => arg === '--stack' || arg.startsWith('--stack='))) {
    // A deployed stack: the same commands on its resources (cli/commands/stack.ts).
    return await reportErrors(() => {
      const { stack, region, rest } = takeStackFlags(argv);
      return stackCommand(stack as string, region, rest);
    });
  }
  const [command, ...rest] = argv;
  if (command === 'help' && rest[0] !== undefined && COMMANDS[rest[0]]) return main([rest[0], '--help']);
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`parl ${version()}\n`);
    return 0;
  }
  const handler = COMMANDS[command];
  if (!handler) {
    const hint = didYouMean(command, Object.keys(COMMANDS));
    process.stderr.write(`parl: unknown command "${command}"${hint}\n(see parl --help)\n`);
    return 2;
  }
  const help = HELP_OF[command];
  if (help && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  return await reportErrors(() => handler(rest));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('cli/main.ts')) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
