/**
 * `parl batch` against the running `parl serve` of a data directory: submit sends to its intake
 * (and with `--wait` follows the jobs), status reads its queues.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { readServeInfo, type ServeBatchInfo, type ServeInfo } from '#cli/data-dir';
import { UsageError } from '#cli/flags';
import { createDynamoDocumentClient, createS3Client, createSqsClient } from '#shared/adapters/aws/clients';
import { readBatchStatus } from '#shared/adapters/aws/sqs';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { loadConfig } from '#shared/config';
import { BATCH_KEY_PREFIX, type BatchStatus } from '#shared/domain/batch';
import type { JobRef } from '#shared/ports/job-store';
import type { TenantStore } from '#shared/ports/tenants';
import { type BatchSubmitOptions, planSubmission } from './parse';
import { type BatchSentReport, sentTextReport, setRejected } from './report';
import { expectedJobs, sendSubmission } from './send';
import { waitForJobs, waitForUploadJob } from './wait';

const localConfig = (info: ServeInfo) =>
  loadConfig({
    TABLE_NAME: info.tableName,
    AWS_REGION: info.region,
    DYNAMODB_ENDPOINT: info.dynamodbEndpoint,
  });

/** The server's batch queues, as the status reader takes them. */
const queuesOf = (sqs: SQSClient, batch: ServeBatchInfo) => ({
  sqs,
  queueUrl: batch.queueUrl,
  ...(batch.deadLetterQueueUrl ? { deadLetterQueueUrl: batch.deadLetterQueueUrl } : {}),
});

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

/** `parl batch submit` against a running `parl serve`: sends, prints what the messages become. */
export async function submitToServer(opts: BatchSubmitOptions, info: ServeInfo): Promise<number> {
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
  const doc = createDynamoDocumentClient(localConfig(info));
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
    if (opts.wait) await waitForReport(opts, { info, batch, sqs, doc }, report);
    process.stdout.write(
      `${opts.json ? JSON.stringify(report, null, 2) : sentTextReport(report, info, opts.wait)}\n`,
    );
    return opts.wait && (report.ended ?? []).some((e) => e.status !== 'SUCCEEDED') ? 1 : 0;
  } finally {
    sqs.destroy();
    s3.destroy();
  }
}

/** `--wait`: finds an upload's job, then waits until every job ended; fills `report.ended`. */
async function waitForReport(
  opts: BatchSubmitOptions,
  intake: {
    info: ServeInfo;
    batch: ServeBatchInfo;
    sqs: SQSClient;
    doc: ReturnType<typeof createDynamoDocumentClient>;
  },
  report: BatchSentReport,
): Promise<void> {
  const { info, doc } = intake;
  const status = () => readBatchStatus(queuesOf(intake.sqs, intake.batch), 0);
  const progress = (line: string) => {
    if (!opts.quiet) process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
  };
  let refs: JobRef[] = report.jobs;
  const upload = report.sent.upload;
  if (upload) {
    const search = new DynamoJobSearch(doc, info.tableName);
    const found = await waitForUploadJob({ search, status }, upload, progress);
    refs = found ? [found] : [];
    if (found) report.jobs = [{ ...found, messageId: '' }];
  }
  const store = new DynamoJobStore(doc, info.tableName);
  report.ended = refs.length > 0 ? await waitForJobs({ store, status }, refs, progress) : [];
  if (upload && refs.length === 0) report.ended = [{ jobId: '', status: 'NOT_ACCEPTED' }];
  setRejected(report);
  if (!opts.quiet && process.stderr.isTTY) process.stderr.write('\n');
}

/** The intake status of the running `parl serve` of a data directory, or undefined without one. */
export async function serverBatchStatus(dataDir: string): Promise<BatchStatus | undefined> {
  const info = readServeInfo(dataDir);
  if (!info?.batch) return undefined;
  const sqs = createSqsClient({ region: info.region, sqsEndpoint: info.batch.endpoint });
  const doc = createDynamoDocumentClient(localConfig(info));
  try {
    return await readBatchStatus(
      queuesOf(sqs, info.batch),
      await new DynamoJobSearch(doc, info.tableName).countJobs({ idempotencyKeyPrefix: BATCH_KEY_PREFIX }),
    );
  } finally {
    sqs.destroy();
    doc.destroy();
  }
}
