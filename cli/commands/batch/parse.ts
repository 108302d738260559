/**
 * Reading `parl batch submit`: its flags, and the file it sends (messages or one upload), checked
 * before anything starts; a mistake is a UsageError naming the flag, line or column.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { dataDirOf } from '#cli/data-dir';
import { intFlag, numberFlag, parseFlags, UsageError } from '#cli/flags';
import {
  INCOMING_PREFIX,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  TENANT_ID_PATTERN,
} from '#shared/domain/batch';
import { RequestValidationError } from '#shared/domain/errors';
import { parseJobRequest } from '#shared/domain/request';

/** One message body of the batch queue. */
export interface BatchMessageBody {
  tenantId: string;
  request: unknown;
  idempotencyKey?: string;
}

/** What `submit` will send: messages, or one upload. */
export type BatchSubmission =
  | { kind: 'messages'; messages: BatchMessageBody[] }
  | { kind: 'upload'; tenantId: string; key: string; body: string; subtasks: number };

/** The parsed arguments of `parl batch submit`. */
export interface BatchSubmitOptions {
  file: string;
  /** The file's text, checked by {@link planSubmission}. */
  text: string;
  as?: 'messages' | 'upload';
  /** `--tenant`; unset: the server's messages must name theirs, the embedded stack makes one. */
  tenantId?: string;
  dataDir: string;
  budgetUsd: number;
  visibilityTimeoutSeconds: number;
  seed: number;
  latencyScale: number;
  json: boolean;
  quiet: boolean;
  /** With a running server: wait until the jobs end (or the queue gives up on a message). */
  wait: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Reads a batch file into what `submit` sends; throws UsageError naming the line or column.
 *
 * @example
 * planSubmission('jobs.jsonl', '{"task":"Check"}\n{"task":"Compare"}', { tenantId: 'acme' }); // two messages
 */
export function planSubmission(
  file: string,
  text: string,
  opts: { tenantId: string | undefined; as?: 'messages' | 'upload' },
): BatchSubmission {
  const ext = extname(file).toLowerCase();
  if (ext !== '.jsonl' && ext !== '.csv')
    throw new UsageError(`${file}: the file must end with .jsonl or .csv`);
  const tenantOf = (what: string): string => {
    if (opts.tenantId === undefined) throw new UsageError(`${what} needs --tenant <id>`);
    return opts.tenantId;
  };
  const upload = (subtasks: number): BatchSubmission => {
    const tenantId = tenantOf(`uploading ${file}`);
    return {
      kind: 'upload',
      tenantId,
      key: `${INCOMING_PREFIX}${tenantId}/${basename(file)}`,
      body: text,
      subtasks,
    };
  };
  try {
    if (ext === '.csv') {
      if (opts.as === 'messages') throw new UsageError('--as messages needs a .jsonl file of job requests');
      return upload(checkedSubtasks(parseSubtasksCsv(text)));
    }
    const lines = parseSubtasksJsonl(text) as unknown[];
    if (lines.length === 0) throw new UsageError(`${file} holds no lines`);
    const asMessages = opts.as
      ? opts.as === 'messages'
      : isObject(lines[0]) && ('task' in lines[0] || 'request' in lines[0]);
    if (!asMessages) return upload(checkedSubtasks(lines));
    return {
      kind: 'messages',
      messages: lines.map((line, i) => {
        if (!isObject(line))
          throw new UsageError(`${file} line ${i + 1}: must be a JSON object (a job request or message)`);
        const message = !('request' in line)
          ? { tenantId: tenantOf(`${file} line ${i + 1}`), request: line }
          : {
              tenantId: typeof line.tenantId === 'string' ? line.tenantId : tenantOf(`${file} line ${i + 1}`),
              request: line.request,
              ...(typeof line.idempotencyKey === 'string' ? { idempotencyKey: line.idempotencyKey } : {}),
            };
        checkRequest(message.request, `${file} line ${i + 1}`);
        return message;
      }),
    };
  } catch (error) {
    if (error instanceof RequestValidationError) throw new UsageError(`${file}: ${error.message}`);
    throw error;
  }
}

/**
 * A request is checked before it is sent (the service's cap stands in for the tenant's, which the
 * intake checks): a line the intake would refuse is refused here, with nothing sent, instead of
 * being shown a job id that will never exist.
 */
function checkRequest(request: unknown, where: string): void {
  try {
    parseJobRequest(request, { maxSubagentsCap: Number.MAX_SAFE_INTEGER });
  } catch (error) {
    if (error instanceof RequestValidationError) {
      throw new UsageError(`${where}: ${error.field}: ${error.reason}; nothing was sent`, { cause: error });
    }
    throw error;
  }
}

/** The subtasks of an upload, checked as the job request they become; returns how many. */
function checkedSubtasks(subtasks: readonly unknown[]): number {
  checkRequest({ task: 'uploaded subtasks', subtasks }, 'the upload');
  return subtasks.length;
}

/** A placeholder tenant that lets a file be checked before the embedded stack makes the real one. */
const CHECK_TENANT = 'tenant-to-be-created';

/** Parses `parl batch submit` arguments and reads and checks the file; throws UsageError. */
export function parseBatchSubmitArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): BatchSubmitOptions {
  const parsed = parseFlags(
    argv,
    {
      tenant: { type: 'string' },
      as: { type: 'string' },
      'data-dir': { type: 'string' },
      'budget-usd': { type: 'string' },
      'visibility-timeout': { type: 'string' },
      seed: { type: 'string' },
      'latency-scale': { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      wait: { type: 'boolean' },
    },
    { allowPositionals: true },
  );
  const { values: v, str } = parsed;
  if (parsed.positionals.length !== 1)
    throw new UsageError('batch submit takes one file: <file.jsonl|file.csv>');
  const file = parsed.positionals[0] as string;
  const tenantId = str('tenant');
  if (tenantId !== undefined && !TENANT_ID_PATTERN.test(tenantId)) {
    throw new UsageError(`--tenant must be 1-64 characters of A-Z a-z 0-9 . _ -, got "${tenantId}"`);
  }
  const as = str('as');
  if (as !== undefined && as !== 'messages' && as !== 'upload') {
    throw new UsageError(`--as must be "messages" or "upload", got "${as}"`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  // Checked now, before anything starts; sent later with the tenant the run ends up with.
  planSubmission(file, text, { tenantId: tenantId ?? CHECK_TENANT, ...(as ? { as } : {}) });
  return {
    file,
    text,
    ...(as ? { as } : {}),
    ...(tenantId !== undefined ? { tenantId } : {}),
    dataDir: dataDirOf(str('data-dir'), env),
    budgetUsd: numberFlag('budget-usd', str('budget-usd'), 0, 1_000_000) ?? 10,
    visibilityTimeoutSeconds: intFlag('visibility-timeout', str('visibility-timeout'), 1, 43_200) ?? 10,
    seed: intFlag('seed', str('seed'), 0, 2 ** 31 - 1) ?? 1,
    latencyScale: numberFlag('latency-scale', str('latency-scale'), 0, 100) ?? 1,
    json: v.json === true,
    quiet: v.quiet === true,
    wait: v.wait === true,
  };
}
