import type { AppConfig } from '#shared/config';
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
import { IdempotencyConflictError, NotFoundError, RequestValidationError } from '#shared/domain/errors';
import { parseJobRequest } from '#shared/domain/request';
import { type JobSettings, jobSettingsOf } from '#shared/domain/tenant';
import type { JobRequest } from '#shared/domain/types';
import type { JobSubmission, JobSubmitter, ObjectReader } from '#shared/ports/job-submitter';
import type { TenantStore } from '#shared/ports/tenants';

export interface BatchRecordDeps {
  submitter: JobSubmitter;
  /** Who may start jobs: an ACTIVE tenant of the tenant store. */
  tenants: Pick<TenantStore, 'getTenant'>;
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
 * 2. job message: the tenant must be ACTIVE and the request valid (within the tenant's width);
 *    the key defaults to the message id
 * 3. upload: the key must be `incoming/<tenantId>/<file>.jsonl|.csv` of an ACTIVE tenant; the
 *    object's subtasks become one job, keyed by bucket, key and the event's sequencer (or ETag)
 * 4. submit through the JobSubmitter under the key's batch namespace ({@link batchIdempotencyKey}):
 *    a key delivered again returns the first job, reserves and starts nothing
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
  if (message.kind === 'job') return { jobs: [await submitJobMessage(deps, message, input.messageId)] };
  if (message.objects.length === 0) return { jobs: [], ignored: 'no object-created record' };
  const jobs: BatchJobOutcome[] = [];
  for (const object of message.objects) jobs.push(await submitUpload(deps, object));
  return { jobs };
}

/**
 * The tenant's settings a job carries: its width cap and its own λ annealing; PoisonRecordError
 * when there is no such ACTIVE tenant.
 */
async function requireTenant(deps: BatchRecordDeps, tenantId: string): Promise<JobSettings> {
  const tenant = await deps.tenants.getTenant(tenantId);
  if (!tenant) throw new PoisonRecordError('tenantId', `tenant "${tenantId}" does not exist`);
  if (tenant.status !== 'ACTIVE') throw new PoisonRecordError('tenantId', `tenant "${tenantId}" is revoked`);
  return jobSettingsOf(tenant, deps.config.maxSubagentsCap);
}

function validRequest(raw: unknown, field: string, maxSubagentsCap: number): JobRequest {
  try {
    return parseJobRequest(raw, { maxSubagentsCap });
  } catch (error) {
    if (error instanceof RequestValidationError) {
      throw new PoisonRecordError(`${field}.${error.field}`, error.reason, { cause: error });
    }
    throw error;
  }
}

async function submit(deps: BatchRecordDeps, submission: JobSubmission) {
  try {
    return await deps.submitter.submit(submission);
  } catch (error) {
    if (error instanceof IdempotencyConflictError) {
      throw new PoisonRecordError('idempotencyKey', error.message, { cause: error });
    }
    // Not poison: a BudgetExceededError (the tenant may top up before the last receive), a
    // submission in progress, a throttled table. The record is retried.
    throw error;
  }
}

async function submitJobMessage(
  deps: BatchRecordDeps,
  message: JobMessage,
  messageId: string,
): Promise<BatchJobOutcome> {
  const settings = await requireTenant(deps, message.tenantId);
  const request = validRequest(message.request, 'request', settings.maxWidth);
  const idempotencyKey = batchIdempotencyKey(message.idempotencyKey ?? `sqs:${messageId}`);
  const { job, duplicate } = await submit(deps, {
    tenantId: message.tenantId,
    request,
    idempotencyKey,
    ...settings,
  });
  return { tenantId: job.tenantId, jobId: job.jobId, duplicate, idempotencyKey, source: 'message' };
}

async function submitUpload(deps: BatchRecordDeps, object: UploadedObject): Promise<BatchJobOutcome> {
  const { tenantId, format } = uploadTenant(object.key);
  const settings = await requireTenant(deps, tenantId);
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
      throw new PoisonRecordError(`object.${error.field}`, error.reason, { cause: error });
    }
    throw error;
  }
  const fileName = object.key.slice(object.key.lastIndexOf('/') + 1);
  const request = validRequest(
    { task: `Work through the subtasks uploaded as ${fileName}`, subtasks },
    'object',
    settings.maxWidth,
  );
  const idempotencyKey = batchIdempotencyKey(uploadIdempotencyKey(object));
  const { job, duplicate } = await submit(deps, { tenantId, request, idempotencyKey, ...settings });
  return { tenantId: job.tenantId, jobId: job.jobId, duplicate, idempotencyKey, source: 'upload' };
}
