/**
 * `parl batch` against the running `parl serve` of a data directory: its intake (fauxqs) and table,
 * given to the same submit and status as a deployed stack's (`./intake.ts`).
 */
import { readServeInfo, type ServeInfo } from '#cli/data-dir';
import { UsageError } from '#cli/flags';
import { createDynamoDocumentClient, createS3Client, createSqsClient } from '#shared/adapters/aws/clients';
import type { BatchStatus } from '#shared/domain/batch';
import { type BatchIntake, closeIntake, intakeStatus, submitToIntake } from './intake';
import type { BatchSubmitOptions } from './parse';

/** The intake of a running `parl serve`, or undefined when it runs none. */
function serverIntake(info: ServeInfo): BatchIntake | undefined {
  const batch = info.batch;
  if (!batch) return undefined;
  return {
    label: `the parl serve at ${info.apiUrl} (pid ${info.pid})`,
    apiUrl: info.apiUrl,
    where: info.dataDir,
    doc: createDynamoDocumentClient({ region: info.region, dynamodbEndpoint: info.dynamodbEndpoint }),
    tableName: info.tableName,
    sqs: createSqsClient({ region: info.region, sqsEndpoint: batch.endpoint }),
    s3: createS3Client({ region: info.region, s3Endpoint: batch.endpoint }),
    queueUrl: batch.queueUrl,
    ...(batch.deadLetterQueueUrl ? { deadLetterQueueUrl: batch.deadLetterQueueUrl } : {}),
    ...(batch.bucket ? { bucket: batch.bucket } : {}),
  };
}

/** `parl batch submit` against a running `parl serve`: sends, prints what the messages become. */
export async function submitToServer(opts: BatchSubmitOptions, info: ServeInfo): Promise<number> {
  const intake = info.batch?.bucket ? serverIntake(info) : undefined;
  if (!intake) {
    throw new UsageError(
      `the parl serve running for ${opts.dataDir} (pid ${info.pid}) has no batch intake; restart it`,
    );
  }
  try {
    return await submitToIntake(opts, intake);
  } finally {
    closeIntake(intake);
  }
}

/** The intake status of the running `parl serve` of a data directory, or undefined without one. */
export async function serverBatchStatus(dataDir: string): Promise<BatchStatus | undefined> {
  const info = readServeInfo(dataDir);
  const intake = info ? serverIntake(info) : undefined;
  if (!intake) return undefined;
  try {
    return await intakeStatus(intake);
  } finally {
    closeIntake(intake);
  }
}
