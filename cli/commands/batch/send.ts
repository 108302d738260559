/**
 * Sending a submission to the batch intake (the queue, or the uploads bucket) and naming the jobs
 * it becomes.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { BATCH_KEY_PREFIX, batchIdempotencyKey } from '#shared/domain/batch';
import { jobIdForKey } from '#shared/domain/idempotency';
import type { JobRef, JobSearch } from '#shared/ports/job-store';
import type { BatchSubmission } from './parse';

/** SendMessageBatch takes at most this many messages. */
const SQS_BATCH_SIZE = 10;

/** Where `submit` sends: the batch queue and the uploads bucket, through injected clients. */
export interface BatchIntakeEndpoints {
  sqs: SQSClient;
  queueUrl: string;
  s3: S3Client;
  bucket: string;
}

/** Sends a submission to the intake: messages in batches of SQS_BATCH_SIZE, or one PutObject. Returns the message ids or the key. */
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
  for (let i = 0; i < submission.messages.length; i += SQS_BATCH_SIZE) {
    const chunk = submission.messages.slice(i, i + SQS_BATCH_SIZE);
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

/**
 * The job an upload became, found by its idempotency key's prefix (bucket and key), or undefined
 * while there is none. Keys too long to keep (hashed) are not found.
 */
export async function findUploadJob(
  search: JobSearch,
  upload: { bucket: string; key: string },
): Promise<JobRef | undefined> {
  const prefix = `${BATCH_KEY_PREFIX}s3:${upload.bucket}/${upload.key}#`;
  for await (const job of search.findJobs({ idempotencyKeyPrefix: prefix })) {
    return { tenantId: job.tenantId, jobId: job.jobId };
  }
  return undefined;
}
