/**
 * `parl batch submit <file.jsonl|file.csv> [--tenant <id>]` and `parl batch status [--json]`.
 *
 * `submit` turns a file into batch-queue traffic: a JSONL file of job requests (lines with `task`,
 * or job messages with `request`) becomes one message per line; a CSV file, or a JSONL file of
 * subtasks, is uploaded to `incoming/<tenant>/<file>` and becomes one job through the bucket's
 * notification. With a running `parl serve` the traffic goes to its intake (serve.json names the
 * endpoint); without one, the command starts the embedded stack with its batch intake, runs until
 * the queue is drained and every job it started is terminal, and prints the jobs.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { dataDirOf, dynamoPathOf, readServeInfo, type ServeInfo } from '#cli/data-dir';
import { intFlag, numberFlag, parseFlags, UsageError } from '#cli/flags';
import { createDynamoDocumentClient, createS3Client, createSqsClient } from '#shared/adapters/aws/clients';
import { readBatchStatus } from '#shared/adapters/aws/sqs';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { loadConfig } from '#shared/config';
import {
  BATCH_KEY_PREFIX,
  type BatchStatus,
  batchIdempotencyKey,
  INCOMING_PREFIX,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  TENANT_ID_PATTERN,
} from '#shared/domain/batch';
import { RequestValidationError } from '#shared/domain/errors';
import { jobIdForKey } from '#shared/domain/idempotency';
import { parseJobRequest } from '#shared/domain/request';
import { type JobStatus, TERMINAL_STATUSES } from '#shared/domain/types';
import type { JobRef, JobSearch, JobStore } from '#shared/ports/job-store';
import type { UsageSummary } from '#shared/ports/ledger';
import type { TenantStore } from '#shared/ports/tenants';
import { createTenant } from '#shared/use-cases/tenants';

export const BATCH_HELP = `parl batch: start jobs through the batch queue (SQS) and the uploads bucket (S3), locally on fauxqs

Usage:
  parl batch submit <file.jsonl|file.csv> [--tenant <id>] [options]
  parl batch status [--json] [--data-dir <dir>]

A JSONL file whose lines are job requests ({"task": ...}) or job messages
({"tenantId"?, "request": {...}, "idempotencyKey"?}) is sent as one message per line. A CSV file
(columns prompt, id?, expected?) or a JSONL file of subtasks ("prompt" or {"id"?, "prompt", "expected"?})
is uploaded to incoming/<tenant>/<file> and becomes one job.

Where it runs:
  with a running \`parl serve\` (of --data-dir): the file goes to the server's intake and submit
    prints the message ids and the job ids they become (GET /v1/jobs/{id}); see parl batch status,
    or pass --wait
  without one: an embedded stack with its intake starts, processes the file until every job is
    terminal, prints the jobs and stops. With --tenant it uses the tenants, budgets and usage of
    the data directory (parl tenants create …); without, a throwaway tenant with --budget-usd

Tenants and budgets: every job reserves its estimate from its tenant's budget. A message of an
unknown or revoked tenant, or an invalid request, is poison: it fails alone and reaches the DLQ
after 3 receives. A job the budget cannot cover fails its message the same way (retried, then DLQ).

Options of submit:
  --tenant <id>              the tenant of lines without one, and of uploads
  --as messages|upload       override how the file is sent
  --wait                     with a running server: wait until the jobs end, with progress on
                             stderr; exit 1 unless every job SUCCEEDED (a poison message: NOT_ACCEPTED)
  --data-dir <dir>           local data (default .parl, or PARL_DATA_DIR) and its running server
  --budget-usd X             budget of the throwaway tenant (default 10; embedded, without --tenant)
  --visibility-timeout S     embedded: seconds a failed message stays invisible (default 10; the template's is 360)
  --seed N                   embedded: seed of the simulator (default 1)
  --latency-scale X          embedded: simulator latency multiplier, 0 = instant (default 1)
  --json                     print exactly one JSON document on stdout
  --quiet                    no progress on stderr

status prints the running server's { queueDepth, inFlight, dlqDepth, jobsStarted } (jobsStarted:
jobs ever started through the batch intake in that data directory).

Exit codes: 0 done (submit: every job SUCCEEDED and the DLQ is empty), 1 otherwise, 2 bad input.`;

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

/** Where `submit` sends: the batch queue and the uploads bucket, through injected clients. */
export interface BatchIntakeEndpoints {
  sqs: SQSClient;
  queueUrl: string;
  s3: S3Client;
  bucket: string;
}

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

/** Sends a submission to the intake: messages in batches of 10, or one PutObject. Returns the message ids or the key. */
export async function sendSubmission(
  endpoints: BatchIntakeEndpoints,
  submission: BatchSubmission,
): Promise<{ messageIds: string[]; upload?: { bucket: string; key: string } }> {
  if (submission.kind === 'upload') {
    await endpoints.s3.send(
      new PutObjectCommand({ Bucket: endpoints.bucket, Key: submission.key, Body: submission.body }),
    );
    return { messageIds: [], upload: { bucket: endpoints.bucket, key: submission.key } };
  }
  const messageIds: string[] = [];
  for (let i = 0; i < submission.messages.length; i += 10) {
    const chunk = submission.messages.slice(i, i + 10);
    const out = await endpoints.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: endpoints.queueUrl,
        Entries: chunk.map((m, j) => ({ Id: String(j), MessageBody: JSON.stringify(m) })),
      }),
    );
    if (out.Failed && out.Failed.length > 0) {
      throw new Error(`the queue refused ${out.Failed.length} message(s): ${out.Failed[0]?.Message ?? ''}`);
    }
    messageIds.push(...(out.Successful ?? []).map((s) => s.MessageId ?? ''));
  }
  return { messageIds };
}

/**
 * The job an upload became, found by its idempotency key's prefix (bucket and key), or undefined
 * while there is none. Keys too long to keep (hashed) are not found.
 */
async function findUploadJob(
  search: JobSearch,
  upload: { bucket: string; key: string },
): Promise<JobRef | undefined> {
  const prefix = `${BATCH_KEY_PREFIX}s3:${upload.bucket}/${upload.key}#`;
  for await (const job of search.findJobs({ idempotencyKeyPrefix: prefix })) {
    return { tenantId: job.tenantId, jobId: job.jobId };
  }
  return undefined;
}

/** How long after an upload its S3 notification is surely on the queue (locally: milliseconds). */
const UPLOAD_NOTIFICATION_GRACE_MS = 3_000;

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

/** A job the submission started, as the summary reports it. */
export interface BatchJobSummary {
  tenantId: string;
  jobId: string;
  status: JobStatus;
  error?: string;
  subtasks?: number;
  wallClockMs?: number;
}

/** The `--json` document of `parl batch submit` on the embedded stack. */
export interface BatchSubmitReport {
  sent: { messages: number; upload?: { bucket: string; key: string } };
  status: BatchStatus;
  jobs: BatchJobSummary[];
  /** The tenant of `--tenant` (or the throwaway one) after the run: its balance and this period's usage. */
  tenant?: { tenantId: string; availableUsd: number; spentUsd: number; usage: UsageSummary };
  elapsedMs: number;
}

/** The `--json` document of `parl batch submit` against a running `parl serve`. */
export interface BatchSentReport {
  server: string;
  sent: { messages: number; upload?: { bucket: string; key: string } };
  /** The jobs the messages become (their ids follow from tenant and idempotency key); uploads: see status. */
  jobs: { tenantId: string; jobId: string; messageId: string }[];
  /** With `--wait`: how each job ended (NOT_ACCEPTED: its message left the queue without a job, see the DLQ). */
  ended?: { jobId: string; status: JobStatus | 'NOT_ACCEPTED'; error?: string }[];
  /** With `--wait`: the messages the intake refused (poison, now in the DLQ); they are not among `jobs`. */
  rejected?: { tenantId: string; messageId: string }[];
}

/** Moves the messages that never became a job from `jobs` to `rejected`: no job id is shown for them. */
function setRejected(report: BatchSentReport): void {
  const refused = new Set(
    (report.ended ?? []).filter((e) => e.status === 'NOT_ACCEPTED' && e.jobId !== '').map((e) => e.jobId),
  );
  if (refused.size === 0) return;
  report.rejected = report.jobs
    .filter((j) => refused.has(j.jobId))
    .map((j) => ({ tenantId: j.tenantId, messageId: j.messageId }));
  report.jobs = report.jobs.filter((j) => !refused.has(j.jobId));
  report.ended = (report.ended ?? []).map((e) => (refused.has(e.jobId) ? { ...e, jobId: '' } : e));
}

/**
 * Waits until every job is terminal, or its message left the queue without becoming a job (the
 * queue and its in-flight messages are empty and the job does not exist: a poison message, now in
 * the DLQ or on its way). Reports progress through `progress`.
 */
export async function waitForJobs(
  deps: { store: JobStore; status: () => Promise<BatchStatus> },
  jobs: readonly JobRef[],
  progress: (line: string) => void,
  pollMs = 250,
): Promise<NonNullable<BatchSentReport['ended']>> {
  for (;;) {
    // The queue first: a job is stored before its message is deleted, so a drained queue seen
    // before reading the jobs means a job still missing never will be.
    const status = await deps.status();
    const records = await Promise.all(jobs.map((j) => deps.store.getJob(j)));
    const drained = status.queueDepth === 0 && status.inFlight === 0;
    const ended = records.map((job, i) =>
      job && TERMINAL_STATUSES.includes(job.status)
        ? { jobId: job.jobId, status: job.status, ...(job.error ? { error: job.error } : {}) }
        : !job && drained
          ? { jobId: jobs[i]?.jobId ?? '', status: 'NOT_ACCEPTED' as const }
          : undefined,
    );
    const done = ended.filter((e) => e !== undefined);
    progress(
      `waiting: ${done.length}/${jobs.length} job(s) ended · queue ${status.queueDepth} · in flight ${status.inFlight} · DLQ ${status.dlqDepth}`,
    );
    if (done.length === jobs.length) return done;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The human summary of `parl batch submit`. */
export function batchTextReport(report: BatchSubmitReport): string {
  const byStatus = new Map<string, number>();
  for (const j of report.jobs) byStatus.set(j.status, (byStatus.get(j.status) ?? 0) + 1);
  const sent = report.sent.upload
    ? `uploaded s3://${report.sent.upload.bucket}/${report.sent.upload.key}`
    : `${report.sent.messages} message(s) sent to the batch queue`;
  const t = report.tenant;
  const lines = [
    `PARL batch · ${sent} · ${(report.elapsedMs / 1000).toFixed(1)} s`,
    `  queue       depth ${report.status.queueDepth} · in flight ${report.status.inFlight} · DLQ ${report.status.dlqDepth}`,
    `  jobs        ${report.status.jobsStarted} started${byStatus.size ? `: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}` : ''}`,
    ...(t
      ? [
          `  tenant      ${t.tenantId} · ${t.usage.jobs} job(s) settled in ${t.usage.period}, $${t.usage.costUsd.toFixed(4)} · spent $${t.spentUsd.toFixed(4)} · available $${t.availableUsd.toFixed(4)}`,
        ]
      : []),
    ...report.jobs.map(
      (j) =>
        `  ${j.jobId}  ${j.tenantId}  ${j.status}${j.subtasks !== undefined ? ` · ${j.subtasks} subtasks` : ''}${j.wallClockMs !== undefined ? ` · ${j.wallClockMs.toLocaleString('en-US')} ms` : ''}${j.error ? ` · ${j.error}` : ''}`,
    ),
  ];
  return lines.join('\n');
}

/** The jobs the sent messages become: the id follows from (tenant, key), as the intake derives it. */
export function expectedJobs(
  submission: BatchSubmission,
  messageIds: string[],
): { tenantId: string; jobId: string; messageId: string }[] {
  if (submission.kind !== 'messages') return [];
  return submission.messages.map((m, i) => {
    const messageId = messageIds[i] ?? '';
    const key = batchIdempotencyKey(m.idempotencyKey ?? `sqs:${messageId}`);
    return { tenantId: m.tenantId, jobId: jobIdForKey(m.tenantId, key), messageId };
  });
}

const localConfig = (info: ServeInfo) =>
  loadConfig({
    TABLE_NAME: info.tableName,
    AWS_REGION: info.region,
    DYNAMODB_ENDPOINT: info.dynamodbEndpoint,
  });

async function requireActiveTenant(tenants: TenantStore, tenantId: string, where: string): Promise<void> {
  const tenant = await tenants.getTenant(tenantId);
  if (!tenant) {
    throw new UsageError(`no tenant "${tenantId}" in ${where}; create one with \`parl tenants create\``);
  }
  if (tenant.status !== 'ACTIVE') throw new UsageError(`tenant "${tenantId}" is revoked`);
}

/** `parl batch submit` against a running `parl serve`: sends, prints what the messages become. */
async function submitToServer(opts: BatchSubmitOptions, info: ServeInfo): Promise<number> {
  const batch = info.batch;
  if (!batch?.bucket) {
    throw new UsageError(
      `the parl serve running for ${opts.dataDir} (pid ${info.pid}) has no batch intake; restart it`,
    );
  }
  const submission = planSubmission(opts.file, opts.text, {
    tenantId: opts.tenantId,
    ...(opts.as ? { as: opts.as } : {}),
  });
  const config = localConfig(info);
  const doc = createDynamoDocumentClient(config);
  if (opts.tenantId) {
    await requireActiveTenant(new DynamoTenantStore(doc, info.tableName), opts.tenantId, opts.dataDir);
  }
  const sqs = createSqsClient({ region: info.region, sqsEndpoint: batch.endpoint });
  const s3 = createS3Client({ region: info.region, s3Endpoint: batch.endpoint });
  try {
    const sent = await sendSubmission(
      { sqs, queueUrl: batch.queueUrl, s3, bucket: batch.bucket },
      submission,
    );
    const report: BatchSentReport = {
      server: info.apiUrl,
      sent: { messages: sent.messageIds.length, ...(sent.upload ? { upload: sent.upload } : {}) },
      jobs: expectedJobs(submission, sent.messageIds),
    };
    if (opts.wait) {
      const store = new DynamoJobStore(doc, info.tableName);
      const status = () =>
        readBatchStatus(
          {
            sqs,
            queueUrl: batch.queueUrl,
            ...(batch.deadLetterQueueUrl ? { deadLetterQueueUrl: batch.deadLetterQueueUrl } : {}),
          },
          0,
        );
      const progress = (line: string) => {
        if (!opts.quiet) process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
      };
      let refs: JobRef[] = report.jobs;
      const upload = sent.upload;
      if (upload) {
        // The upload's job id follows from its notification: look for it until the queue drains.
        // The upload's notification reaches the queue a moment after the upload: an empty queue
        // says nothing until then.
        const notifiedBy = Date.now() + UPLOAD_NOTIFICATION_GRACE_MS;
        let found: JobRef | undefined;
        for (;;) {
          const s = await status(); // before the lookup, as in waitForJobs
          found = await findUploadJob(new DynamoJobSearch(doc, info.tableName), upload);
          const drained = s.queueDepth === 0 && s.inFlight === 0;
          if (found || (drained && Date.now() > notifiedBy)) break;
          progress(
            `waiting for the upload's job · queue ${s.queueDepth} · in flight ${s.inFlight} · DLQ ${s.dlqDepth}`,
          );
          await new Promise((r) => setTimeout(r, 250));
        }
        refs = found ? [found] : [];
        if (found) report.jobs = [{ ...found, messageId: '' }];
      }
      report.ended = refs.length > 0 ? await waitForJobs({ store, status }, refs, progress) : [];
      if (upload && refs.length === 0) report.ended = [{ jobId: '', status: 'NOT_ACCEPTED' }];
      setRejected(report);
      if (!opts.quiet && process.stderr.isTTY) process.stderr.write('\n');
    }
    const text = [
      `PARL batch · sent to the parl serve at ${info.apiUrl} (pid ${info.pid})`,
      sent.upload
        ? `  uploaded s3://${sent.upload.bucket}/${sent.upload.key}: one job once its notification is processed`
        : `  ${sent.messageIds.length} message(s) on the batch queue; the jobs they become:`,
      ...(report.rejected ?? []).map(
        (r) =>
          `  message ${r.messageId}  ${r.tenantId}  REJECTED: no job (the intake refused it: see the DLQ)`,
      ),
      ...report.jobs.map((j) => {
        const end = report.ended?.find((e) => e.jobId === j.jobId);
        return `  ${j.jobId}  ${j.tenantId}${j.messageId ? `  (message ${j.messageId})` : ''}${end ? `  ${end.status}${end.error ? `: ${end.error}` : ''}` : ''}`;
      }),
      ...(report.ended ?? [])
        .filter((e) => e.status === 'NOT_ACCEPTED' && e.jobId === '')
        .map(() => '  the upload: REJECTED: no job (the intake refused it: see the DLQ)'),
      opts.wait
        ? `  ${(report.ended ?? []).filter((e) => e.status === 'SUCCEEDED').length} of ${report.ended?.length ?? 0} job(s) SUCCEEDED`
        : '  follow them with `parl batch status` and GET /v1/jobs/{id} (or submit with --wait)',
    ].join('\n');
    process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : text}\n`);
    return opts.wait && (report.ended ?? []).some((e) => e.status !== 'SUCCEEDED') ? 1 : 0;
  } finally {
    sqs.destroy();
    s3.destroy();
  }
}

/**
 * `parl batch submit` on an embedded stack: the data directory's tenants with `--tenant`, else a
 * throwaway tenant in memory; runs until the queue is drained and every started job is terminal.
 */
async function submitEmbedded(opts: BatchSubmitOptions): Promise<number> {
  const started = Date.now();
  const say = (line: string) => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  const { EmbeddedStack } = await import('#local/runtime');
  const stack = await EmbeddedStack.boot({
    simulator: { seed: opts.seed, latencyScale: opts.latencyScale },
    ...(opts.tenantId ? { dataPath: dynamoPathOf(opts.dataDir) } : {}),
    batch: { visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds },
  });
  try {
    const batch = stack.batch;
    if (!batch?.bucket) throw new Error('the local stack has no batch intake');
    let tenantId = opts.tenantId;
    if (tenantId) await requireActiveTenant(stack.tenants, tenantId, opts.dataDir);
    else {
      const created = await createTenant(
        { tenants: stack.tenants, maxSubagentsCap: stack.config.maxSubagentsCap },
        {
          name: 'parl batch (throwaway)',
          budgetUsd: opts.budgetUsd,
          maxSubagents: stack.config.maxSubagentsCap,
        },
      );
      tenantId = created.tenant.tenantId;
      say(`throwaway tenant ${tenantId} with a $${opts.budgetUsd} budget (use --tenant for a lasting one)`);
    }
    const submission = planSubmission(opts.file, opts.text, {
      tenantId,
      ...(opts.as ? { as: opts.as } : {}),
    });
    say(
      `local stack up: batch queue ${batch.queue.url} · bucket ${batch.bucket} on fauxqs ${batch.events.endpoint}`,
    );
    const sent = await sendSubmission(
      { sqs: batch.events.sqs, queueUrl: batch.queue.url, s3: batch.events.s3, bucket: batch.bucket },
      submission,
    );
    say(
      sent.upload
        ? `uploaded s3://${sent.upload.bucket}/${sent.upload.key}`
        : `sent ${sent.messageIds.length} message(s)`,
    );
    let last = '';
    const progress = async () => {
      const s = await batch.status();
      let finished = 0;
      for (const ref of batch.startedJobs) {
        const job = await stack.store.getJob(ref);
        if (job && TERMINAL_STATUSES.includes(job.status)) finished += 1;
      }
      const line = `queue ${s.queueDepth} · in flight ${s.inFlight} · DLQ ${s.dlqDepth} · jobs ${s.jobsStarted} started, ${finished} finished`;
      if (line !== last) say(line);
      last = line;
    };
    await batch.events.drained({ intervalMs: 1000, onPoll: progress });
    const jobs: BatchJobSummary[] = [];
    for (const ref of batch.startedJobs) {
      const { job } = await stack.wait(ref, () => void progress(), 1000);
      jobs.push({
        tenantId: job.tenantId,
        jobId: job.jobId,
        status: job.status,
        ...(job.error ? { error: job.error } : {}),
        ...(job.plan ? { subtasks: job.plan.subtasks } : {}),
        ...(job.metrics ? { wallClockMs: job.metrics.wallClockMs } : {}),
      });
    }
    const tenant = await stack.tenants.getTenant(tenantId);
    const report: BatchSubmitReport = {
      sent: { messages: sent.messageIds.length, ...(sent.upload ? { upload: sent.upload } : {}) },
      status: await batch.status(),
      jobs,
      ...(tenant
        ? {
            tenant: {
              tenantId,
              availableUsd: tenant.availableUsd,
              spentUsd: tenant.spentUsd,
              usage: await stack.ledger.usage(tenantId, new Date().toISOString().slice(0, 7)),
            },
          }
        : {}),
      elapsedMs: Date.now() - started,
    };
    process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : batchTextReport(report)}\n`);
    return report.status.dlqDepth === 0 && jobs.every((j) => j.status === 'SUCCEEDED') ? 0 : 1;
  } finally {
    await stack.close();
  }
}

/** `parl batch submit`: to the running `parl serve` of the data directory, else on an embedded stack. */
export async function batchSubmitCommand(argv: string[]): Promise<number> {
  const opts = parseBatchSubmitArgs(argv);
  const running = readServeInfo(opts.dataDir);
  return running ? await submitToServer(opts, running) : await submitEmbedded(opts);
}

/** The intake status of the running `parl serve` of a data directory, or undefined without one. */
export async function serverBatchStatus(dataDir: string): Promise<BatchStatus | undefined> {
  const info = readServeInfo(dataDir);
  if (!info?.batch) return undefined;
  const sqs = createSqsClient({ region: info.region, sqsEndpoint: info.batch.endpoint });
  const doc = createDynamoDocumentClient(localConfig(info));
  try {
    return await readBatchStatus(
      {
        sqs,
        queueUrl: info.batch.queueUrl,
        ...(info.batch.deadLetterQueueUrl ? { deadLetterQueueUrl: info.batch.deadLetterQueueUrl } : {}),
      },
      await new DynamoJobSearch(doc, info.tableName).countJobs({ idempotencyKeyPrefix: BATCH_KEY_PREFIX }),
    );
  } finally {
    sqs.destroy();
    doc.destroy();
  }
}

/** `parl batch status [--json]`: the running server's queue depth, in flight, DLQ depth and jobs started. */
export async function batchStatusCommand(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const parsed = parseFlags(argv, { json: { type: 'boolean' }, 'data-dir': { type: 'string' } });
  const dataDir = dataDirOf(parsed.str('data-dir'), env);
  const status = await serverBatchStatus(dataDir);
  if (!status) {
    process.stderr.write(
      `parl batch status: no parl serve with a batch intake is running for ${dataDir}; start one with \`parl serve\` (without a server, \`parl batch submit\` runs its own stack and prints this status when it ends)\n`,
    );
    return 1;
  }
  process.stdout.write(
    parsed.values.json
      ? `${JSON.stringify(status)}\n`
      : `batch queue depth ${status.queueDepth} · in flight ${status.inFlight} · DLQ ${status.dlqDepth} · jobs started ${status.jobsStarted}\n`,
  );
  return 0;
}

/** `parl batch <submit|status>`. */
export async function batchCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (
    sub === undefined ||
    sub === 'help' ||
    sub === '--help' ||
    sub === '-h' ||
    rest.includes('--help') ||
    rest.includes('-h')
  ) {
    process.stdout.write(`${BATCH_HELP}\n`);
    return 0;
  }
  if (sub === 'submit') return await batchSubmitCommand(rest);
  if (sub === 'status') return await batchStatusCommand(rest);
  throw new UsageError(`unknown batch command "${sub}" (submit or status)`);
}
