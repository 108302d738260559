/**
 * The batch intake's pure rules: what a queue message may be (a job message or an S3 event
 * notification), how an uploaded file of subtasks is read (JSONL or CSV), and how an idempotency
 * key becomes a job id. No AWS imports.
 */
import { createHash } from 'node:crypto';
import { CsvError, parse } from 'csv-parse/sync';
import { z } from 'zod';
import { ParlError, RequestValidationError, TransientError } from './errors';

/** The prefix under which an uploaded object starts a job: `incoming/<tenantId>/<file>.jsonl|.csv`. */
export const INCOMING_PREFIX = 'incoming/';

/** A tenant id as it may appear in a key prefix or a message. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A record of a batch that cannot be turned into a job; retrying it will not help. */
export class PoisonRecordError extends ParlError {
  /** What is wrong: `body`, `tenantId`, `request.<field>`, `object`, … */
  readonly field: string;
  /** Why; the message is `<field>: <reason>`. */
  readonly reason: string;
  constructor(field: string, reason: string, options?: ErrorOptions) {
    super(`${field}: ${reason}`, options);
    this.name = 'PoisonRecordError';
    this.field = field;
    this.reason = reason;
  }
}

/** Another delivery of the same idempotency key is being submitted right now; try again later. */
export class SubmissionInProgressError extends TransientError {
  readonly jobId: string;
  constructor(jobId: string, options?: ErrorOptions) {
    super(`job ${jobId} is being submitted by another delivery of the same message`, options);
    this.name = 'SubmissionInProgressError';
    this.jobId = jobId;
  }
}

/** A job message: a tenant, a job request (validated later) and an optional idempotency key. */
export interface JobMessage {
  kind: 'job';
  tenantId: string;
  request: unknown;
  idempotencyKey?: string;
}

/** One object-created record of an S3 event notification. */
export interface UploadedObject {
  kind: 'upload';
  bucket: string;
  /** The decoded key (S3 URL-encodes keys in notifications, `+` for spaces). */
  key: string;
  eTag?: string;
  sequencer?: string;
}

/** What one queue message holds: a job, uploaded objects, or nothing to do (the S3 test event). */
export type BatchMessage =
  | JobMessage
  | { kind: 'uploads'; objects: UploadedObject[] }
  | { kind: 'ignored'; reason: string };

const jobMessageSchema = z
  .object({
    tenantId: z.string().regex(TENANT_ID_PATTERN, 'must be 1-64 characters of A-Z a-z 0-9 . _ -'),
    request: z.unknown(),
    idempotencyKey: z.string().min(1).max(512).optional(),
  })
  .strict();

const s3RecordSchema = z.object({
  eventSource: z.literal('aws:s3'),
  eventName: z.string(),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      eTag: z.string().optional(),
      sequencer: z.string().optional(),
    }),
  }),
});

/** Decodes an S3 notification key (`+` is a space, the rest is percent-encoded). */
export function decodeS3Key(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

/**
 * Reads a queue message body. Throws PoisonRecordError naming what is wrong.
 *
 * @example
 * parseBatchMessage('{"tenantId":"acme","request":{"task":"Check"}}'); // { kind: 'job', ... }
 */
export function parseBatchMessage(body: string): BatchMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    throw new PoisonRecordError('body', 'is not JSON', { cause: error });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PoisonRecordError('body', 'must be a JSON object');
  }
  const obj = raw as Record<string, unknown>;
  if (obj.Event === 's3:TestEvent') return { kind: 'ignored', reason: 'S3 test event' };
  if ('Records' in obj) {
    if (!Array.isArray(obj.Records)) throw new PoisonRecordError('Records', 'must be an array');
    const objects: UploadedObject[] = [];
    obj.Records.forEach((record, i) => {
      const parsed = s3RecordSchema.safeParse(record);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new PoisonRecordError(
          `Records[${i}].${issue?.path.join('.') ?? ''}`,
          issue?.message ?? 'is invalid',
        );
      }
      if (!parsed.data.eventName.startsWith('ObjectCreated:')) return;
      const o = parsed.data.s3.object;
      objects.push({
        kind: 'upload',
        bucket: parsed.data.s3.bucket.name,
        key: decodeS3Key(o.key),
        ...(o.eTag ? { eTag: o.eTag } : {}),
        ...(o.sequencer ? { sequencer: o.sequencer } : {}),
      });
    });
    return { kind: 'uploads', objects };
  }
  const parsed = jobMessageSchema.safeParse(obj);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === 'unrecognized_keys') {
      throw new PoisonRecordError(issue.keys[0] ?? 'body', 'is not a known field of a job message');
    }
    throw new PoisonRecordError(issue?.path.join('.') || 'body', issue?.message ?? 'is invalid');
  }
  if (!('request' in obj)) throw new PoisonRecordError('request', 'is required');
  return {
    kind: 'job',
    tenantId: parsed.data.tenantId,
    request: parsed.data.request,
    ...(parsed.data.idempotencyKey ? { idempotencyKey: parsed.data.idempotencyKey } : {}),
  };
}

/**
 * The tenant of an uploaded object: `incoming/<tenantId>/<file>` with a `.jsonl` or `.csv` file.
 * Throws PoisonRecordError for any other key.
 */
export function uploadTenant(key: string): { tenantId: string; format: 'jsonl' | 'csv' } {
  const rest = key.startsWith(INCOMING_PREFIX) ? key.slice(INCOMING_PREFIX.length) : undefined;
  const slash = rest?.indexOf('/') ?? -1;
  const tenantId = rest && slash > 0 ? rest.slice(0, slash) : undefined;
  if (!tenantId || !TENANT_ID_PATTERN.test(tenantId)) {
    throw new PoisonRecordError('object.key', `"${key}" is not under ${INCOMING_PREFIX}<tenantId>/`);
  }
  const lower = key.toLowerCase();
  if (lower.endsWith('.jsonl')) return { tenantId, format: 'jsonl' };
  if (lower.endsWith('.csv')) return { tenantId, format: 'csv' };
  throw new PoisonRecordError('object.key', `"${key}" must end with .jsonl or .csv`);
}

/** A subtask as a file gives it, before validation: a prompt, or `{id?, prompt, expected?}`. */
export type RawSubtask = string | { id?: unknown; prompt?: unknown; expected?: unknown };

/** Reads a JSONL file: one subtask per non-empty line (a JSON string or `{id?, prompt, expected?}`). */
export function parseSubtasksJsonl(text: string): RawSubtask[] {
  const out: RawSubtask[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as RawSubtask);
    } catch (error) {
      throw new RequestValidationError(`line ${i + 1}`, 'is not JSON', { cause: error });
    }
  });
  return out;
}

/** A csv-parse error as a 400 on the CSV: where it is (`csv line N`) and why. */
function csvError(error: unknown): RequestValidationError {
  if (!(error instanceof CsvError)) throw error;
  const line = (error as CsvError & { lines?: number }).lines;
  if (
    error.code === 'CSV_RECORD_INCONSISTENT_COLUMNS' ||
    error.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH'
  ) {
    const fields = (error as CsvError & { record?: unknown[] }).record?.length;
    return new RequestValidationError(
      `csv line ${line}`,
      `has ${fields} fields and the header ${(error as CsvError & { columns?: unknown[] }).columns?.length ?? 'fewer'}: quote a field that holds a comma ("What is 2,3?")`,
      { cause: error },
    );
  }
  if (error.code === 'CSV_QUOTE_NOT_CLOSED') {
    return new RequestValidationError('csv', 'ends inside a quoted field', { cause: error });
  }
  return new RequestValidationError(`csv line ${line}`, error.message, { cause: error });
}

/** CRLF, LF or CR, mixed in one file as editors leave them. */
const LINE_ENDS = ['\r\n', '\n', '\r'];

/** Splits CSV text into rows with csv-parse (RFC 4180: quoted fields, doubled quotes, CRLF or LF). */
export function parseCsv(text: string): string[][] {
  try {
    return parse(text, {
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      record_delimiter: LINE_ENDS,
    }) as string[][];
  } catch (error) {
    throw csvError(error);
  }
}

const CSV_COLUMNS = ['id', 'prompt', 'expected'];

/**
 * Reads a CSV file of subtasks: a header with `prompt` (required), `id` and `expected` (optional).
 * A row may leave trailing fields out; a row with more fields than the header (an unquoted comma)
 * is refused, never read shifted.
 */
export function parseSubtasksCsv(text: string): RawSubtask[] {
  let rows: Record<string, string>[];
  try {
    rows = parse(text, {
      bom: true,
      skip_empty_lines: true,
      relax_column_count_less: true,
      record_delimiter: LINE_ENDS,
      columns: (header: string[]) => {
        const columns = header.map((h) => h.trim().toLowerCase());
        if (!columns.includes('prompt')) {
          throw new RequestValidationError('csv.header', 'must have a "prompt" column');
        }
        const unknown = columns.find((c) => !CSV_COLUMNS.includes(c));
        if (unknown !== undefined) {
          throw new RequestValidationError(`csv.header.${unknown}`, 'is not a known column');
        }
        return columns;
      },
    }) as Record<string, string>[];
  } catch (error) {
    if (error instanceof RequestValidationError) throw error;
    throw csvError(error);
  }
  return rows.map((r) => {
    const get = (name: string) => (r[name] === undefined || r[name] === '' ? undefined : r[name]);
    return {
      prompt: get('prompt') ?? '',
      ...(get('id') !== undefined ? { id: get('id') } : {}),
      ...(get('expected') !== undefined ? { expected: get('expected') } : {}),
    };
  });
}

/** Where batch idempotency keys live: apart from the API's `Idempotency-Key`s, so the two never collide. */
export const BATCH_KEY_PREFIX = 'batch:';

/** Keys longer than this (an S3 key may be 1,024 bytes) are replaced by their SHA-256. */
const MAX_KEY_CHARS = 200;

/**
 * The idempotency key a batch record submits under: `batch:` and the message's key (or
 * `sqs:<messageId>`, `s3:<bucket>/<key>#<sequencer>`), hashed when long. Every delivery of the same
 * record yields the same key, hence (through `jobIdForKey`) the same job and execution.
 *
 * @example
 * batchIdempotencyKey('nightly-2026-11-29'); // 'batch:nightly-2026-11-29'
 */
export function batchIdempotencyKey(key: string): string {
  if (key.length <= MAX_KEY_CHARS) return `${BATCH_KEY_PREFIX}${key}`;
  return `${BATCH_KEY_PREFIX}sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** What `parl batch status` reports. */
export interface BatchStatus {
  /** Messages waiting on the batch queue. */
  queueDepth: number;
  /** Messages received and not yet deleted (being processed, or failed and waiting to return). */
  inFlight: number;
  /** Messages in the batch queue's dead-letter queue. */
  dlqDepth: number;
  /** Jobs the batch intake started (duplicates start none). */
  jobsStarted: number;
}
