/**
 * `parl batch submit <file.jsonl|file.csv> [--tenant <id>]` and `parl batch status [--json]`.
 *
 * `submit` turns a file into batch-queue traffic: a JSONL file of job requests (lines with `task`,
 * or job messages with `request`) becomes one message per line; a CSV file, or a JSONL file of
 * subtasks, is uploaded to `incoming/<tenant>/<file>` and becomes one job through the bucket's
 * notification. The traffic goes to injected endpoints ({@link BatchIntakeEndpoints}); without a
 * running `parl serve`, the command starts the embedded stack with its batch intake, runs until
 * the queue is drained and every job it started is terminal, and prints a summary.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { parseArgs } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  INCOMING_PREFIX,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  TENANT_ID_PATTERN,
} from '#shared/domain/batch';
import { RequestValidationError } from '#shared/domain/errors';
import type { JobStatus } from '#shared/domain/types';
import type { BatchStatus } from '../batch-intake';
import { intFlag, numberFlag, UsageError } from '../cli-common';

export const BATCH_HELP = `parl batch: start jobs through the batch queue (SQS) and the uploads bucket (S3), locally on fauxqs

Usage:
  parl batch submit <file.jsonl|file.csv> [options]
  parl batch status [--json]

A JSONL file whose lines are job requests ({"task": ...}) or job messages
({"tenantId"?, "request": {...}, "idempotencyKey"?}) is sent as one message per line. A CSV file
(columns prompt, id?, expected?) or a JSONL file of subtasks ("prompt" or {"id"?, "prompt", "expected"?})
is uploaded to incoming/<tenant>/<file> and becomes one job.

Options of submit:
  --tenant <id>              the tenant (default "local"); the local intake accepts it
  --as messages|upload       override how the file is sent
  --visibility-timeout S     seconds a failed message stays invisible (default 10; the template's is 360)
  --seed N                   seed of the simulator (default 1)
  --latency-scale X          simulator latency multiplier, 0 = instant (default 1)
  --json                     print exactly one JSON document on stdout
  --quiet                    no progress on stderr

status prints { queueDepth, inFlight, dlqDepth, jobsStarted } of a running local stack (parl serve).

Exit codes: 0 every job started SUCCEEDED and the DLQ is empty, 1 otherwise, 2 bad input.`;

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
  submission: BatchSubmission;
  tenantId: string;
  visibilityTimeoutSeconds: number;
  seed: number;
  latencyScale: number;
  json: boolean;
  quiet: boolean;
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
  opts: { tenantId: string; as?: 'messages' | 'upload' },
): BatchSubmission {
  const ext = extname(file).toLowerCase();
  if (ext !== '.jsonl' && ext !== '.csv')
    throw new UsageError(`${file}: the file must end with .jsonl or .csv`);
  const upload = (subtasks: number): BatchSubmission => ({
    kind: 'upload',
    tenantId: opts.tenantId,
    key: `${INCOMING_PREFIX}${opts.tenantId}/${basename(file)}`,
    body: text,
    subtasks,
  });
  try {
    if (ext === '.csv') {
      if (opts.as === 'messages') throw new UsageError('--as messages needs a .jsonl file of job requests');
      return upload(parseSubtasksCsv(text).length);
    }
    const lines = parseSubtasksJsonl(text) as unknown[];
    if (lines.length === 0) throw new UsageError(`${file} holds no lines`);
    const asMessages = opts.as
      ? opts.as === 'messages'
      : isObject(lines[0]) && ('task' in lines[0] || 'request' in lines[0]);
    if (!asMessages) return upload(lines.length);
    return {
      kind: 'messages',
      messages: lines.map((line, i) => {
        if (!isObject(line))
          throw new UsageError(`${file} line ${i + 1}: must be a JSON object (a job request or message)`);
        if (!('request' in line)) return { tenantId: opts.tenantId, request: line };
        const { tenantId, request, idempotencyKey } = line;
        return {
          tenantId: typeof tenantId === 'string' ? tenantId : opts.tenantId,
          request,
          ...(typeof idempotencyKey === 'string' ? { idempotencyKey } : {}),
        };
      }),
    };
  } catch (error) {
    if (error instanceof RequestValidationError) throw new UsageError(`${file}: ${error.message}`);
    throw error;
  }
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

/** Where `status` reads: the batch queue and its dead-letter queue, through an injected SQS client. */
export interface BatchStatusEndpoints {
  sqs: SQSClient;
  queueUrl: string;
  deadLetterQueueUrl?: string;
}

/**
 * The batch intake's status from the queues' attributes (any SQS endpoint: fauxqs, a running
 * `parl serve`, or SQS itself) and the number of jobs the intake started, which the caller knows.
 */
export async function readBatchStatus(
  endpoints: BatchStatusEndpoints,
  jobsStarted: number,
): Promise<BatchStatus> {
  const attrs = async (queueUrl: string) => {
    const out = await endpoints.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const a = out.Attributes ?? {};
    const n = (k: string) => Number(a[k as keyof typeof a] ?? 0);
    return {
      visible: n('ApproximateNumberOfMessages') + n('ApproximateNumberOfMessagesDelayed'),
      inFlight: n('ApproximateNumberOfMessagesNotVisible'),
    };
  };
  const [queue, dlq] = await Promise.all([
    attrs(endpoints.queueUrl),
    endpoints.deadLetterQueueUrl
      ? attrs(endpoints.deadLetterQueueUrl)
      : Promise.resolve({ visible: 0, inFlight: 0 }),
  ]);
  return {
    queueDepth: queue.visible,
    inFlight: queue.inFlight,
    dlqDepth: dlq.visible + dlq.inFlight,
    jobsStarted,
  };
}

/** Parses `parl batch submit` arguments and reads the file; throws UsageError. */
export function parseBatchSubmitArgs(argv: string[]): BatchSubmitOptions {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        tenant: { type: 'string' },
        as: { type: 'string' },
        'visibility-timeout': { type: 'string' },
        seed: { type: 'string' },
        'latency-scale': { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  if (parsed.positionals.length !== 1)
    throw new UsageError('batch submit takes one file: <file.jsonl|file.csv>');
  const file = parsed.positionals[0] as string;
  const tenantId = str('tenant') ?? 'local';
  if (!TENANT_ID_PATTERN.test(tenantId)) {
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
  return {
    file,
    submission: planSubmission(file, text, { tenantId, ...(as ? { as } : {}) }),
    tenantId,
    visibilityTimeoutSeconds: intFlag('visibility-timeout', str('visibility-timeout'), 1, 43_200) ?? 10,
    seed: intFlag('seed', str('seed'), 0, 2 ** 31 - 1) ?? 1,
    latencyScale: numberFlag('latency-scale', str('latency-scale'), 0, 100) ?? 1,
    json: v.json === true,
    quiet: v.quiet === true,
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

/** The `--json` document of `parl batch submit`. */
export interface BatchSubmitReport {
  sent: { messages: number; upload?: { bucket: string; key: string } };
  status: BatchStatus;
  jobs: BatchJobSummary[];
  elapsedMs: number;
}

/** The human summary of `parl batch submit`. */
export function batchTextReport(report: BatchSubmitReport): string {
  const byStatus = new Map<string, number>();
  for (const j of report.jobs) byStatus.set(j.status, (byStatus.get(j.status) ?? 0) + 1);
  const sent = report.sent.upload
    ? `uploaded s3://${report.sent.upload.bucket}/${report.sent.upload.key}`
    : `${report.sent.messages} message(s) sent to the batch queue`;
  const lines = [
    `PARL batch · ${sent} · ${(report.elapsedMs / 1000).toFixed(1)} s`,
    `  queue       depth ${report.status.queueDepth} · in flight ${report.status.inFlight} · DLQ ${report.status.dlqDepth}`,
    `  jobs        ${report.status.jobsStarted} started${byStatus.size ? `: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}` : ''}`,
    ...report.jobs.map(
      (j) =>
        `  ${j.jobId}  ${j.tenantId}  ${j.status}${j.subtasks !== undefined ? ` · ${j.subtasks} subtasks` : ''}${j.wallClockMs !== undefined ? ` · ${j.wallClockMs.toLocaleString('en-US')} ms` : ''}${j.error ? ` · ${j.error}` : ''}`,
    ),
  ];
  return lines.join('\n');
}

/** `parl batch submit` on the embedded stack. Returns the exit code. */
export async function batchSubmitCommand(argv: string[]): Promise<number> {
  const opts = parseBatchSubmitArgs(argv);
  const started = Date.now();
  const { LocalStack } = await import('../runtime');
  const stack = await LocalStack.start({
    simulator: { seed: opts.seed, latencyScale: opts.latencyScale },
    batch: { tenants: [opts.tenantId], visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds },
  });
  try {
    const batch = stack.batch;
    if (!batch?.bucket) throw new Error('the local stack has no batch intake');
    const say = (line: string) => {
      if (!opts.quiet) process.stderr.write(`${line}\n`);
    };
    say(
      `local stack up: batch queue ${batch.queue.url} · bucket ${batch.bucket} on fauxqs ${batch.events.endpoint}`,
    );
    const sent = await sendSubmission(
      { sqs: batch.events.sqs, queueUrl: batch.queue.url, s3: batch.events.s3, bucket: batch.bucket },
      opts.submission,
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
        if (job && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.status)) finished += 1;
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
    const report: BatchSubmitReport = {
      sent: { messages: sent.messageIds.length, ...(sent.upload ? { upload: sent.upload } : {}) },
      status: await readBatchStatus(
        {
          sqs: batch.events.sqs,
          queueUrl: batch.queue.url,
          ...(batch.deadLetterQueue ? { deadLetterQueueUrl: batch.deadLetterQueue.url } : {}),
        },
        batch.startedJobs.length,
      ),
      jobs,
      elapsedMs: Date.now() - started,
    };
    process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : batchTextReport(report)}\n`);
    return report.status.dlqDepth === 0 && jobs.every((j) => j.status === 'SUCCEEDED') ? 0 : 1;
  } finally {
    await stack.close();
  }
}

/**
 * `parl batch status`: the status of a running local stack's batch intake. Reaching a running
 * `parl serve` is not wired yet (issue 3 brings the server); without one there is nothing to read.
 */
export function batchStatusCommand(argv: string[]): Promise<number> {
  try {
    parseArgs({ args: argv, strict: true, allowPositionals: false, options: { json: { type: 'boolean' } } });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  process.stderr.write(
    'parl batch status: no running local stack to read (start one with `parl serve`); `parl batch submit` prints the same status when it finishes\n',
  );
  return Promise.resolve(1);
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
