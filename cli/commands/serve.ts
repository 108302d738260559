/**
 * `parl serve`: the REST API on loopback over the embedded stack, with state in the data directory.
 * The same handlers as in the cloud: a local API Gateway calls the authorizer and the `api`
 * function, which starts executions through `@aws-sdk/client-sfn` against the local Step Functions
 * endpoint of the runtime.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { dataDirOf, dynamoPathOf, readServeInfo, removeServeInfo, writeServeInfo } from '#cli/data-dir';
import { intFlag, numberFlag, parseFlags, UsageError } from '#cli/flags';
import {
  modelEndpoint,
  PROVIDER_FLAG_OPTIONS,
  PROVIDER_HELP,
  type ProviderChoice,
  parseProviderFlags,
} from '#cli/provider-flags';
import { dashboardSite } from '#dashboard/build';
import { API_ROUTES } from '#shared/domain/api-routes';
import { rotateApiKey } from '#shared/use-cases/tenants';
import { serveJobEvents } from './serve-jobs';

/** How often `parl serve` runs the reservation sweeper (the cloud's rule runs it every 5 minutes). */
export const SWEEP_INTERVAL_MS = 60_000;

/** Where `npm run bench` writes its reports; the dashboard shows the newest A/B one. */
const BENCH_RESULTS = new URL('../../bench/results', import.meta.url).pathname;

const ROUTES = API_ROUTES.map((r) => `${r.method} ${r.path}`).join(', ');

export const SERVE_HELP = `parl serve: run the REST API on loopback, with state kept in the data directory

Usage:
  parl serve [--port 3000] [--host 127.0.0.1] [--data-dir .parl] [options]

Options:
  --port N               port of the API (default 3000; 0 = any free port)
  --host H               address to listen on (default 127.0.0.1)
  --data-dir <dir>       tenants, jobs, steps and usage live here (default .parl, or PARL_DATA_DIR)
  --seed N               simulator seed (default 1)
  --latency-scale X      simulator latency multiplier (default 1)
  --error-rate R         simulator share of wrong verdicts (default 0.03)
  --batch-visibility-timeout S
                         seconds a failed batch message stays invisible (default 30; the template's
                         360 would keep a poison message 18 minutes from the DLQ)
  --otlp-endpoint URL    export every ended job's spans over OTLP/HTTP (JSON) to URL
                         (a collector's base URL, e.g. http://127.0.0.1:4318; /v1/traces is added)
  --verbose              handler logs on stderr

${PROVIDER_HELP.replace('Provider options of run', 'Provider options')}

Routes: ${ROUTES}
Every route but the OpenAPI document needs the header x-api-key (parl tenants create …).
The batch intake runs too (queue, DLQ and uploads bucket on fauxqs): parl batch submit|status use it.
Model endpoint: as for \`parl run\` (MOONSHOT_API_KEY / MOONSHOT_BASE_URL, else the simulator).`;

export interface ServeOptions {
  port: number;
  host: string;
  dataDir: string;
  seed: number;
  latencyScale: number;
  errorRate: number;
  batchVisibilityTimeoutSeconds: number;
  verbose: boolean;
  provider: ProviderChoice;
  /** Where to export ended jobs' spans (OTLP/HTTP), if anywhere. */
  otlpEndpoint?: string;
}

export function parseServeArgs(argv: string[]): ServeOptions {
  const parsed = parseFlags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    seed: { type: 'string' },
    'latency-scale': { type: 'string' },
    'error-rate': { type: 'string' },
    'batch-visibility-timeout': { type: 'string' },
    verbose: { type: 'boolean' },
    'otlp-endpoint': { type: 'string' },
    ...PROVIDER_FLAG_OPTIONS,
  });
  const { values: v, str } = parsed;
  const port = numberFlag('port', str('port'), 0, 65535) ?? 3000;
  if (!Number.isInteger(port))
    throw new UsageError(`--port must be an integer from 0 to 65535, got "${str('port')}"`);
  const seed = numberFlag('seed', str('seed'), 0, 2 ** 31 - 1) ?? 1;
  const otlp = str('otlp-endpoint');
  if (otlp !== undefined && !URL.canParse(otlp)) {
    throw new UsageError(`--otlp-endpoint must be a URL such as http://127.0.0.1:4318, got "${otlp}"`);
  }
  return {
    ...(otlp !== undefined ? { otlpEndpoint: otlp } : {}),
    port,
    host: str('host') ?? '127.0.0.1',
    dataDir: dataDirOf(str('data-dir')),
    seed: Math.floor(seed),
    latencyScale: numberFlag('latency-scale', str('latency-scale'), 0, 100) ?? 1,
    errorRate: numberFlag('error-rate', str('error-rate'), 0, 1) ?? 0.03,
    batchVisibilityTimeoutSeconds:
      intFlag('batch-visibility-timeout', str('batch-visibility-timeout'), 1, 43_200) ?? 30,
    verbose: v.verbose === true,
    provider: parseProviderFlags(str),
  };
}

/** A started server; `stopped` resolves once it has shut down. */
export interface RunningServer {
  apiUrl: string;
  /** The dashboard with the local tenant's key in the fragment (never sent to the server). */
  dashboardUrl: string;
  close(): Promise<void>;
}

/** Starts everything `parl serve` runs and writes `serve.json`; the caller decides when to close. */
export async function startServer(opts: ServeOptions, log: (line: string) => void): Promise<RunningServer> {
  const running = readServeInfo(opts.dataDir);
  if (running) {
    throw new UsageError(
      `parl serve is already running for ${opts.dataDir} (pid ${running.pid}) at ${running.apiUrl}`,
    );
  }
  mkdirSync(opts.dataDir, { recursive: true });
  const { EmbeddedStack } = await import('#local/runtime');
  const { startLocalApi } = await import('#local/emulators/api-gateway');
  const { realBaseUrl, ...endpoint } = modelEndpoint(opts.provider, {
    seed: opts.seed,
    latencyScale: opts.latencyScale,
    verdictErrorRate: opts.errorRate,
  });
  const stack = await EmbeddedStack.boot({
    ...endpoint,
    dataPath: dynamoPathOf(opts.dataDir),
    eventsPath: join(opts.dataDir, 'events'),
    sfnEndpoint: true,
    simulatorThread: true,
    batch: { visibilityTimeoutSeconds: opts.batchVisibilityTimeoutSeconds },
    logLevel: opts.verbose ? 'INFO' : 'SILENT',
  });
  const exporter = opts.otlpEndpoint
    ? new (await import('#cli/otel')).OtlpJobExporter(opts.otlpEndpoint)
    : undefined;
  stack.jobEvents = serveJobEvents(stack, log, exporter);
  let api: Awaited<ReturnType<typeof startLocalApi>>;
  let dashboardKey: string;
  try {
    const orphans = await closeOrphanedJobs(stack);
    if (orphans > 0) log(`closed ${orphans} job(s) left running by an earlier server as FAILED`);
    const [site, key] = await Promise.all([dashboardSite(BENCH_RESULTS), localTenantKey(stack)]);
    dashboardKey = key;
    api = await startLocalApi(stack, { port: opts.port, host: opts.host, site });
  } catch (error) {
    await stack.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new UsageError(`port ${opts.port} is in use; choose another with --port`, { cause: error });
    }
    throw error;
  }
  writeServeInfo({
    pid: process.pid,
    apiUrl: api.url,
    dynamodbEndpoint: stack.dynamo.endpoint,
    sfnEndpoint: stack.sfnServer?.endpoint ?? '',
    tableName: stack.config.tableName,
    region: stack.config.region,
    dataDir: opts.dataDir,
    startedAt: new Date().toISOString(),
    ...(stack.batch
      ? {
          batch: {
            endpoint: stack.batch.events.endpoint,
            queueUrl: stack.batch.queue.url,
            ...(stack.batch.deadLetterQueue ? { deadLetterQueueUrl: stack.batch.deadLetterQueue.url } : {}),
            ...(stack.batch.bucket ? { bucket: stack.batch.bucket } : {}),
          },
        }
      : {}),
  });
  const sweeper = sweepPeriodically(stack, log);
  const dashboardUrl = `${api.url}/#key=${encodeURIComponent(dashboardKey)}`;
  log(
    `PARL Swarm API on ${api.url} · batch intake on ${stack.batch?.events.endpoint ?? '-'} · data in ${opts.dataDir} · model ${realBaseUrl ?? `simulator ${stack.simulatorUrl}`}`,
  );
  log(`dashboard (the local tenant's jobs): ${dashboardUrl}`);
  return {
    apiUrl: api.url,
    dashboardUrl,
    close: async () => {
      await sweeper.stop();
      await api.close();
      await stack.close();
      await exporter?.shutdown();
      removeServeInfo(opts.dataDir);
    },
  };
}

/**
 * A fresh API key of the local tenant (the one `parl run` uses), made at every start so the
 * dashboard can show its jobs: the previous server's key stops working. Only printed, never stored.
 */
async function localTenantKey(stack: import('#local/runtime').EmbeddedStack): Promise<string> {
  const { LOCAL_TENANT } = await import('#local/runtime');
  await stack.ensureLocalTenant(LOCAL_TENANT);
  return rotateApiKey({ tenants: stack.tenants }, LOCAL_TENANT);
}

/**
 * Runs the template's `sweeper` function every {@link SWEEP_INTERVAL_MS} (never two at once), as
 * the cloud's schedule does: reservations without a live job are returned after the grace period.
 */
function sweepPeriodically(
  stack: import('#local/runtime').EmbeddedStack,
  log: (line: string) => void,
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      try {
        const out = (await stack.invoke('sweeper', {})) as { released: number; settled: number };
        if (out.released + out.settled > 0) {
          log(`sweeper: released ${out.released}, settled ${out.settled} stranded reservation(s)`);
        }
      } catch (error) {
        log(`sweeper failed: ${(error as Error).message}`);
      }
    });
  }, SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * Jobs an earlier server left ACCEPTED or RUNNING (it stopped while they ran) are closed FAILED
 * with that reason and their steps' measures, so every accepted job ends in a terminal state.
 */
async function closeOrphanedJobs(stack: import('#local/runtime').EmbeddedStack): Promise<number> {
  let closed = 0;
  for await (const job of stack.jobSearch.findJobs({ statuses: ['ACCEPTED', 'RUNNING'] })) {
    await stack.closeEnded(
      { tenantId: job.tenantId, jobId: job.jobId },
      { status: 'FAILED', reason: 'the local server stopped while the job was running' },
    );
    closed++;
  }
  return closed;
}

/** `parl serve`: runs until SIGINT or SIGTERM. */
export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  const opts = parseServeArgs(argv);
  const server = await startServer(opts, (line) => process.stderr.write(`${line}\n`));
  process.stderr.write('press Ctrl-C to stop\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write('stopping…\n');
  await server.close();
  return 0;
}
