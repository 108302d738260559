import {
  batchIdempotencyKey,
  type JobMessage,
  PoisonRecordError,
  parseBatchMessage,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  type RawSubtask,
  type UploadedObject,
  uploadTenant,
} from '#shared/domain/batch';
import {
  AuthError,
  IdempotencyConflictError,
  NotFoundError,
  RequestValidationError,
} from '#shared/domain/errors';
import type { ObjectReader } from '#shared/ports/object-reader';
import { type AcceptJobDeps, type AcceptJobOutcome, acceptJob } from './accept-job';

/** The batch intake's dependencies: the job acceptance's (with its StartWait) and the uploads. */
export interface BatchRecordDeps extends AcceptJobDeps {
  objects: ObjectReader;
}

/** One queue message: its id (the default idempotency key) and its body. */
export interface BatchRecordInput {
  messageId: string;
  body: string;
}

/** A job the record led to; `duplicate` when an earlier delivery had already submitted it. */
export interface BatchJobOutcome {
  tenantId: string;
  jobId: string;
  duplicate: boolean;
  idempotencyKey: string;
  source: 'message' | 'upload';
}

export interface BatchRecordOutcome {
  jobs: BatchJobOutcome[];
  /** Why the record started nothing, when it was a notification with nothing to do. */
  ignored?: string;
}

/** The idempotency key of an uploaded object: the same upload event, delivered again, is the same job. */
export function uploadIdempotencyKey(
  o: Pick<UploadedObject, 'bucket' | 'key' | 'eTag' | 'sequencer'>,
): string {
  return `s3:${o.bucket}/${o.key}#${o.sequencer ?? o.eTag ?? ''}`;
}

/**
 * Turns one batch-queue record into jobs, exactly once per idempotency key.
 *
 * 1. parse the body: a job message `{tenantId, request, idempotencyKey?}` or an S3 event notification
 * 2. job message: its request; the key defaults to the message id
 * 3. upload: the key must be `incoming/<tenantId>/<file>.jsonl|.csv`; the object's subtasks become
 *    one job's request, keyed by bucket, key and the event's sequencer (or ETag)
 * 4. accept the job ({@link acceptJob}: an ACTIVE tenant, the request valid within its cap, the
 *    estimate reserved) under the key's batch namespace ({@link batchIdempotencyKey}): a key
 *    delivered again returns the first job once it has started, and reserves and starts nothing
 *
 * Throws PoisonRecordError for a record that retrying cannot fix (unparseable, unknown or revoked
 * tenant, invalid request, missing object, a key reused for another request); anything else (a
 * BudgetExceededError, a throttled table, a submission in progress) propagates and the record is
 * retried, reaching the DLQ after the queue's maxReceiveCount.
 */
export async function processBatchRecord(
  deps: BatchRecordDeps,
  input: BatchRecordInput,
): Promise<BatchRecordOutcome> {
  const message = parseBatchMessage(input.body);
  if (message.kind === 'ignored') return { jobs: [], ignored: message.reason };
  if (message.kind === 'job') return { jobs: [await acceptJobMessage(deps, message, input.messageId)] };
  if (message.objects.length === 0) return { jobs: [], ignored: 'no object-created record' };
  const jobs: BatchJobOutcome[] = [];
  for (const object of message.objects) jobs.push(await acceptUpload(deps, object));
  return { jobs };
}

/**
 * Accepts one job; what retrying cannot fix becomes PoisonRecordError, its field under `source`'s
 * name for the request (`request.` for a message, `object.` for an upload).
 */
async function accept(
  deps: BatchRecordDeps,
  input: { tenantId: string; request: unknown; idempotencyKey: string },
  source: 'request' | 'object',
): Promise<AcceptJobOutcome> {
  try {
    return await acceptJob(deps, input);
  } catch (error) {
    if (error instanceof AuthError) throw new PoisonRecordError('tenantId', error.message, { cause: error });
    if (error instanceof RequestValidationError) {
      throw new PoisonRecordError(`${source}.${error.field}`, error.reason, { cause: error });
    }
    if (error instanceof IdempotencyConflictError) {
      throw new PoisonRecordError('idempotencyKey', error.message, { cause: error });
    }
    // Not poison: a BudgetExceededError (the tenant may top up before the last receive), a
    // submission in progress, a throttled table. The record is retried.
    throw error;
  }
}

async function acceptJobMessage(
  deps: BatchRecordDeps,
  message: JobMessage,
  messageId: string,
): Promise<BatchJobOutcome> {
  const idempotencyKey = batchIdempotencyKey(message.idempotencyKey ?? `sqs:${messageId}`);
  const { job, duplicate } = await accept(
    deps,
    { tenantId: message.tenantId, request: message.request, idempotencyKey },
    'request',
  );
  return { tenantId: job.tenantId, jobId: job.jobId, duplicate, idempotencyKey, source: 'message' };
}

async function acceptUpload(deps: BatchRecordDeps, object: UploadedObject): Promise<BatchJobOutcome> {
  const { tenantId, format } = uploadTenant(object.key);
  const subtasks = await readSubtasks(deps, object, format);
  const fileName = object.key.slice(object.key.lastIndexOf('/') + 1);
  const request = { task: `Work through the subtasks uploaded as ${fileName}`, subtasks };
  const idempotencyKey = batchIdempotencyKey(uploadIdempotencyKey(object));
  const { job, duplicate } = await accept(deps, { tenantId, request, idempotencyKey }, 'object');
  return { tenantId: job.tenantId, jobId: job.jobId, duplicate, idempotencyKey, source: 'upload' };
}

/** The uploaded file's subtasks; a missing object or an unreadable file is poison. */
async function readSubtasks(
  deps: BatchRecordDeps,
  object: UploadedObject,
  format: 'jsonl' | 'csv',
): Promise<RawSubtask[]> {
  let text: string;
  try {
    text = await deps.objects.getText(object);
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new PoisonRecordError('object', `s3://${object.bucket}/${object.key} does not exist`, {
        cause: error,
      });
    }
    throw error;
  }
  try {
    return format === 'csv' ? parseSubtasksCsv(text) : parseSubtasksJsonl(text);
  } catch (error) {
    if (error instanceof RequestValidationError) {
      throw new PoisonRecordError(`object.${error.field}`, error.reason, { cause: error });
    }
    throw error;
  }
}
