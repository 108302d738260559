/**
 * `parl jobs list|show|steps|watch|cancel|trace`: a tenant's jobs on a running `parl serve` (or any
 * deployment of the REST API), through the API with the tenant's key. `parl --stack <name> jobs …`
 * takes the API from the deployed stack's ApiUrl output.
 */
import { writeFileSync } from 'node:fs';
import { dataDirOf, readServeInfo } from '#cli/data-dir';
import { intFlag, type ParsedFlags, parseFlags, UsageError } from '#cli/flags';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import { JobsApi, type JobView } from './client';
import { renderTimeline } from './timeline';
import { TRACE_FORMATS, type TraceFormat, traceDocument } from './trace';
import { LIST_HEADER, listRow, progressText, STEPS_HEADER, showText, stepRow } from './view';

const COMMON = `Common options:
  --url URL            the API (default: the parl serve of --data-dir, else PARL_API_URL, else
                       http://127.0.0.1:3000)
  --key KEY            the tenant's API key (default PARL_API_KEY; parl tenants create prints one)
  --data-dir <dir>     whose running parl serve to find (default .parl, or PARL_DATA_DIR)
  --json               print JSON on stdout
  -h, --help           this text`;

const SUBCOMMANDS: Record<string, string> = {
  list: "parl jobs list [--limit N] [--cursor C]     the tenant's jobs, newest first (running ones with progress)",
  show: 'parl jobs show <id> [--timeline [--width N] [--lanes N]]   status, progress, measures; --timeline: an ASCII Gantt with the critical path',
  steps: 'parl jobs steps <id>                         every step record of the job',
  watch:
    'parl jobs watch <id> [--interval-ms N]        progress until the job ends (exit 0 when it SUCCEEDED)',
  cancel: 'parl jobs cancel <id>                        cancel a running job',
  trace:
    'parl jobs trace <id> --format chrome|otlp [--out FILE]   the timeline as Chrome Trace Event JSON (Perfetto) or OTLP/JSON spans',
};

export const JOBS_HELP = `parl jobs: follow a tenant's jobs on a running parl serve

Usage:
${Object.values(SUBCOMMANDS)
  .map((s) => `  ${s}`)
  .join('\n')}

${COMMON}

Exit codes: 0 done (watch: the job SUCCEEDED), 1 the API refused or could not be reached, or the
watched job did not succeed, 2 bad input.`;

const subcommandHelp = (sub: string) => `usage: ${SUBCOMMANDS[sub]}\n\n${COMMON}`;

const FLAGS = {
  url: { type: 'string' },
  key: { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  timeline: { type: 'boolean' },
  width: { type: 'string' },
  lanes: { type: 'string' },
  'interval-ms': { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
} as const;

/** Which flags each subcommand takes beyond the common ones. */
const OWN_FLAGS: Record<string, readonly string[]> = {
  list: ['limit', 'cursor'],
  show: ['timeline', 'width', 'lanes'],
  steps: [],
  watch: ['interval-ms'],
  cancel: [],
  trace: ['format', 'out'],
};

/**
 * The API to talk to: a deployed stack's (`stackApiUrl`, its ApiUrl output), else `--url`, else the
 * data directory's running server, else PARL_API_URL; the key from `--key`, else PARL_API_KEY.
 */
export function apiOf(
  flags: ParsedFlags,
  env: Record<string, string | undefined> = process.env,
  stackApiUrl?: string,
): JobsApi {
  if (stackApiUrl !== undefined && flags.str('url') !== undefined) {
    throw new UsageError("--url and --stack do not go together: the stack's ApiUrl output is the API");
  }
  const key = flags.str('key') ?? env.PARL_API_KEY;
  if (!key) {
    throw new UsageError(
      "no API key: give --key parl_… or set PARL_API_KEY (parl tenants create prints a tenant's key)",
    );
  }
  const running =
    stackApiUrl === undefined && flags.str('url') === undefined
      ? readServeInfo(dataDirOf(flags.str('data-dir'), env))
      : undefined;
  const url =
    stackApiUrl ?? flags.str('url') ?? running?.apiUrl ?? env.PARL_API_URL ?? 'http://127.0.0.1:3000';
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError(`--url must be an http(s) URL, got "${url}"`);
  const hint = stackApiUrl === undefined ? undefined : "the stack's ApiUrl output; is the stack deployed?";
  return new JobsApi(url.replace(/\/+$/, ''), key, hint);
}

const out = (text: string) => process.stdout.write(`${text}\n`);
const asJson = (value: unknown) => JSON.stringify(value, null, 2);

async function list(api: JobsApi, flags: ParsedFlags): Promise<number> {
  const page = await api.jobs(intFlag('limit', flags.str('limit'), 1, 100) ?? 20, flags.str('cursor'));
  if (flags.values.json === true) out(asJson(page));
  else {
    out([LIST_HEADER, ...page.items.map(listRow)].join('\n'));
    if (page.nextCursor) out(`more: parl jobs list --cursor ${page.nextCursor}`);
  }
  return 0;
}

async function show(api: JobsApi, flags: ParsedFlags, jobId: string): Promise<number> {
  const job = await api.job(jobId);
  const timeline = flags.values.timeline === true;
  const width = intFlag('width', flags.str('width'), 20, 400);
  const maxLanes = intFlag('lanes', flags.str('lanes'), 1, 100_000);
  const steps = timeline ? await api.steps(jobId) : [];
  if (flags.values.json === true) out(asJson(timeline ? { ...job, steps } : job));
  else {
    out(showText(job));
    if (timeline) {
      const opts = { origin: job.acceptedAt, ...(width ? { width } : {}), ...(maxLanes ? { maxLanes } : {}) };
      out(`\n${renderTimeline(steps, opts)}`);
    }
  }
  return 0;
}

async function steps(api: JobsApi, flags: ParsedFlags, jobId: string): Promise<number> {
  const all = await api.steps(jobId);
  out(
    flags.values.json === true
      ? asJson({ jobId, steps: all })
      : [STEPS_HEADER, ...all.map(stepRow)].join('\n'),
  );
  return 0;
}

const HEARTBEAT_MS = 5000;

/** Polls the job until it ends: progress on stderr (a line per change, or every 5 s), the job on stdout. */
async function watch(api: JobsApi, flags: ParsedFlags, jobId: string): Promise<number> {
  const interval = intFlag('interval-ms', flags.str('interval-ms'), 50, 60_000) ?? 1000;
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let [last, lastAt] = ['', 0];
  let job: JobView = await api.job(jobId);
  for (;;) {
    const line = `${job.status.toLowerCase()} · ${progressText(job)}`;
    const now = Date.now();
    if (tty) process.stderr.write(`\r\x1b[2K${line} · ${((now - started) / 1000).toFixed(1)} s`);
    else if (line !== last || now - lastAt >= HEARTBEAT_MS) {
      process.stderr.write(`${line} · ${((now - started) / 1000).toFixed(1)} s\n`);
      [last, lastAt] = [line, now];
    }
    if (TERMINAL_STATUSES.includes(job.status as never)) break;
    await new Promise((r) => setTimeout(r, interval));
    job = await api.job(jobId);
  }
  if (tty) process.stderr.write('\n');
  out(flags.values.json === true ? asJson(job) : showText(job));
  return job.status === 'SUCCEEDED' ? 0 : 1;
}

async function cancel(api: JobsApi, flags: ParsedFlags, jobId: string): Promise<number> {
  const job = await api.cancel(jobId);
  out(
    flags.values.json === true
      ? asJson(job)
      : `job ${job.jobId} · ${job.status}${job.error ? ` (${job.error})` : ''}`,
  );
  return 0;
}

async function trace(api: JobsApi, flags: ParsedFlags, jobId: string): Promise<number> {
  const format = flags.str('format');
  if (format === undefined || !(TRACE_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(
      `--format must be ${TRACE_FORMATS.map((f) => `"${f}"`).join(' or ')}${format === undefined ? '' : `, got "${format}"`}`,
    );
  }
  const job = await api.job(jobId);
  const doc = JSON.stringify(await traceDocument(format as TraceFormat, job, await api.steps(jobId)));
  const file = flags.str('out');
  if (file) {
    writeFileSync(file, `${doc}\n`);
    process.stderr.write(`wrote ${file}\n`);
  } else out(doc);
  return 0;
}

const RUN: Record<string, (api: JobsApi, flags: ParsedFlags, jobId: string) => Promise<number>> = {
  show,
  steps,
  watch,
  cancel,
  trace,
};

/** `parl jobs <subcommand> …`; `stackApiUrl`: the API of the deployed stack of `parl --stack`. */
export async function jobsCommand(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  stackApiUrl?: string,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    out(JOBS_HELP);
    return 0;
  }
  const own = OWN_FLAGS[sub];
  if (!own) throw new UsageError(`unknown subcommand "${sub}" of parl jobs; see parl jobs --help`);
  const allowed = Object.fromEntries(
    Object.entries(FLAGS).filter(
      ([name]) => own.includes(name) || !Object.values(OWN_FLAGS).flat().includes(name),
    ),
  );
  const flags = parseFlags(rest, allowed, {
    allowPositionals: true,
    usage: subcommandHelp(sub).split('\n')[0],
  });
  if (flags.values.help === true) {
    out(subcommandHelp(sub));
    return 0;
  }
  const api = apiOf(flags, env, stackApiUrl);
  if (sub === 'list') {
    if (flags.positionals.length > 0)
      throw new UsageError(`parl jobs list takes no job id, got "${flags.positionals[0]}"`);
    return await list(api, flags);
  }
  const [jobId, ...extra] = flags.positionals;
  if (jobId === undefined) throw new UsageError(`missing job id; ${subcommandHelp(sub).split('\n')[0]}`);
  if (extra.length > 0) throw new UsageError(`one job id only, got also "${extra.join(' ')}"`);
  return await (RUN[sub] as (typeof RUN)[string])(api, flags, jobId);
}
