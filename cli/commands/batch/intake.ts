/**
 * `parl batch submit|status` against a batch intake that is already running: a `parl serve`'s
 * (fauxqs, `./server.ts`) or a deployed stack's (SQS and S3, `./stack.ts`). Both are the same
 * queue, bucket and table behind different endpoints, so one code path sends, waits and reports.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UsageError } from '#cli/flags';
import { readBatchStatus } from '#shared/adapters/aws/sqs';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { BATCH_KEY_PREFIX, type BatchStatus } from '#shared/domain/batch';
import type { JobRef } from '#shared/ports/job-store';
import type { TenantStore } from '#shared/ports/tenants';
import { type BatchSubmitOptions, planSubmission } from './parse';
import { type BatchSentReport, sentTextReport, setRejected } from './report';
import { expectedJobs, sendSubmission } from './send';
import { waitForJobs, waitForUploadJob } from './wait';

/** A running intake: its queues and bucket, the table its jobs land in, and how to name it. */
export interface BatchIntake {
  /** Who receives the file, for the summary: "the parl serve at … (pid …)", "stack … (region)". */
  label: string;
  /** The API the jobs are read through (the report's `server`). */
  apiUrl: string;
  /** Where the tenants are, for "no tenant … in <where>". */
  where: string;
  doc: DynamoDBDocumentClient;
  tableName: string;
  sqs: SQSClient;
  s3: S3Client;
  queueUrl: string;
  deadLetterQueueUrl?: string;
  /** The uploads bucket; without one only messages can be sent. */
  bucket?: string;
}

/** Closes the intake's clients. */
export function closeIntake(intake: BatchIntake): void {
  intake.sqs.destroy();
  intake.s3.destroy();
  intake.doc.destroy();
}

/** A UsageError unless the tenant exists and is active. */
export async function requireActiveTenant(
  tenants: TenantStore,
  tenantId: string,
  where: string,
): Promise<void> {
  const tenant = await tenants.getTenant(tenantId);
  if (!tenant) {
    throw new UsageError(`no tenant "${tenantId}" in ${where}; create one with \`parl tenants create\``);
  }
  if (tenant.status !== 'ACTIVE') throw new UsageError(`tenant "${tenantId}" is revoked`);
}

/** The intake's queue depths and the jobs ever started through it (a scan of the table). */
export async function intakeStatus(intake: BatchIntake): Promise<BatchStatus> {
  const started = await new DynamoJobSearch(intake.doc, intake.tableName).countJobs({
    idempotencyKeyPrefix: BATCH_KEY_PREFIX,
  });
  return readBatchStatus(queuesOf(intake), started);
}

const queuesOf = (intake: BatchIntake) => ({
  sqs: intake.sqs,
  queueUrl: intake.queueUrl,
  ...(intake.deadLetterQueueUrl ? { deadLetterQueueUrl: intake.deadLetterQueueUrl } : {}),
});

/**
 * `parl batch submit` to a running intake.
 *
 * 1. read the file into messages or one upload; check `--tenant` in the intake's table
 * 2. send it, and name the jobs the messages become
 * 3. with `--wait`: follow them until they end
 * 4. print the report; exit 1 with `--wait` unless every job SUCCEEDED
 */
export async function submitToIntake(opts: BatchSubmitOptions, intake: BatchIntake): Promise<number> {
  const submission = planSubmission(opts.file, opts.text, {
    tenantId: opts.tenantId,
    ...(opts.as ? { as: opts.as } : {}),
  });
  if (opts.tenantId) {
    await requireActiveTenant(
      new DynamoTenantStore(intake.doc, intake.tableName),
      opts.tenantId,
      intake.where,
    );
  }
  if (submission.kind === 'upload' && !intake.bucket) {
    throw new UsageError(`${intake.label} has no uploads bucket: send a .jsonl file of job requests instead`);
  }
  const sent = await sendSubmission(
    { sqs: intake.sqs, queueUrl: intake.queueUrl, s3: intake.s3, bucket: intake.bucket ?? '' },
    submission,
  );
  const report: BatchSentReport = {
    server: intake.apiUrl,
    sent: { messages: sent.messageIds.length, ...(sent.upload ? { upload: sent.upload } : {}) },
    jobs: expectedJobs(submission, sent.messageIds),
  };
  if (opts.wait) await waitForReport(opts, intake, report);
  process.stdout.write(
    `${opts.json ? JSON.stringify(report, null, 2) : sentTextReport(report, intake.label, opts.wait)}\n`,
  );
  return opts.wait && (report.ended ?? []).some((e) => e.status !== 'SUCCEEDED') ? 1 : 0;
}

/** `--wait`: finds an upload's job, then waits until every job ended; fills `report.ended`. */
async function waitForReport(
  opts: BatchSubmitOptions,
  intake: BatchIntake,
  report: BatchSentReport,
): Promise<void> {
  const status = () => readBatchStatus(queuesOf(intake), 0);
  const progress = (line: string) => {
    if (!opts.quiet) process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
  };
  let refs: JobRef[] = report.jobs;
  const upload = report.sent.upload;
  if (upload) {
    const search = new DynamoJobSearch(intake.doc, intake.tableName);
    const found = await waitForUploadJob({ search, status }, upload, progress);
    refs = found ? [found] : [];
    if (found) report.jobs = [{ ...found, messageId: '' }];
  }
  const store = new DynamoJobStore(intake.doc, intake.tableName);
  report.ended = refs.length > 0 ? await waitForJobs({ store, status }, refs, progress) : [];
  if (upload && refs.length === 0) report.ended = [{ jobId: '', status: 'NOT_ACCEPTED' }];
  setRejected(report);
  if (!opts.quiet && process.stderr.isTTY) process.stderr.write('\n');
}
