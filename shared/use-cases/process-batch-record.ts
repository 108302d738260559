import type { AppConfig } from '#shared/config';
import {
  type JobMessage,
  PoisonRecordError,
  parseBatchMessage,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  type RawSubtask,
  type UploadedObject,
  uploadTenant,
} from '#shared/domain/batch';
import { NotFoundError, RequestValidationError } from '#shared/domain/errors';
import { parseJobRequest } from '#shared/domain/request';
import type { JobRequest } from '#shared/domain/types';
import type { JobSubmitter, ObjectReader, TenantDirectory } from '#shared/ports/job-submitter';

export interface BatchRecordDeps {
  submitter: JobSubmitter;
  tenants: TenantDirectory;
  objects: ObjectReader;
  config: Pick<AppConfig, 'maxSubagentsCap'>;
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
 * 2. job message: the tenant must exist and the request be valid; the key defaults to the message id
 * 3. upload: the key must be `incoming/<tenantId>/<file>.jsonl|.csv` of a known tenant; the object's
 *    subtasks become one job, keyed by bucket, key and the event's sequencer (or ETag)
 * 4. submit through the JobSubmitter, which returns the first job for a key delivered again
 *
 * Throws PoisonRecordError for a record that retrying cannot fix (unparseable, unknown tenant,
 * invalid request, missing object); anything else (a throttled table, a submission in progress)
 * propagates and the record is retried.
 */
export async function processBatchRecord(
  deps: BatchRecordDeps,
  input: BatchRecordInput,
): Promise<BatchRecordOutcome> {
  const message = parseBatchMessage(input.body);
  if (message.kind === 'ignored') return { jobs: [], ignored: message.reason };
  if (message.kind === 'job') return { jobs: [await submitJobMessage(deps, message, input.messageId)] };
  if (message.objects.length === 0) return { jobs: [], ignored: 'no object-created record' };
  const jobs: BatchJobOutcome[] = [];
  for (const object of message.objects) jobs.push(await submitUpload(deps, object));
  return { jobs };
}

async function requireTenant(deps: BatchRecordDeps, tenantId: string): Promise<void> {
  if (!(await deps.tenants.exists(tenantId))) {
    throw new PoisonRecordError('tenantId', `tenant "${tenantId}" does not exist`);
  }
}

function validRequest(deps: BatchRecordDeps, raw: unknown, field: string): JobRequest {
  try {
    return parseJobRequest(raw, { maxSubagentsCap: deps.config.maxSubagentsCap });
  } catch (error) {
    if (error instanceof RequestValidationError) {
      throw new PoisonRecordError(`${field}.${error.field}`, error.message.slice(error.field.length + 2), {
        cause: error,
      });
    }
    throw error;
  }
}

async function submitJobMessage(
  deps: BatchRecordDeps,
  message: JobMessage,
  messageId: string,
): Promise<BatchJobOutcome> {
  await requireTenant(deps, message.tenantId);
  const request = validRequest(deps, message.request, 'request');
  const idempotencyKey = message.idempotencyKey ?? `sqs:${messageId}`;
  const { job, duplicate } = await deps.submitter.submit({
    tenantId: message.tenantId,
    request,
    idempotencyKey,
  });
  return { tenantId: job.tenantId, jobId: job.jobId, duplicate, idempotencyKey, source: 'message' };
}

async function submitUpload(deps: BatchRecordDeps, object: UploadedObject): Promise<BatchJobOutcome> {
  const { tenantId, format } = uploadTenant(object.key);
  await requireTenant(deps, tenantId);
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
  let subtasks: RawSubtask[];
  try {
    subtasks = format === 'csv' ? parseSubtasksCsv(text) : parseSubtasksJsonl(text);
  } catch (error) {
    if (error instanceof RequestValidationError) {
      throw new PoisonRecordError(`object.${error.field}`, error.message.slice(error.field.length + 2), {
        cause: error,
      });
    }
    throw error;
  }
  const fileName = object.key.slice(object.key.lastIndexOf('/') + 1);
  const request = validRequest(
    deps,
    { task: `Work through the subtasks uploaded as ${fileName}`, subtasks },
    'object',
  );
  const idempotencyKey = uploadIdempotencyKey(object);
  const { job, duplicate } = await deps.submitter.submit({ tenantId, request, idempotencyKey });
  return { tenantId: job.tenantId, jobId: job.jobId, duplicate, idempotencyKey, source: 'upload' };
}
