/**
 * `parl --stack <name> batch submit|status`: the deployed stack's batch queue, its DLQ and uploads
 * bucket (the outputs BatchQueueUrl, BatchDlqUrl, UploadsBucket) and its table, given to the same
 * submit and status as a running `parl serve`'s intake (`./intake.ts`). The clients take no
 * endpoint: the SDK resolves AWS itself, or `AWS_ENDPOINT_URL_SQS` / `_S3` / `_DYNAMODB`.
 */

import { type DeployedStack, requireOutput, stackData } from '#cli/stack';
import { createS3Client, createSqsClient } from '#shared/adapters/aws/clients';
import { type BatchIntake, closeIntake, intakeStatus, submitToIntake } from './intake';
import type { BatchSubmitOptions } from './parse';

/** The stack's intake; fails naming the output the stack lacks (a stack deployed without batch). */
export function stackIntake(stack: DeployedStack): BatchIntake {
  const queueUrl = requireOutput(stack, 'batchQueueUrl');
  const { doc, tableName } = stackData(stack);
  const { batchDlqUrl, uploadsBucket, apiUrl } = stack.outputs;
  return {
    label: `stack ${stack.name} (${stack.region})`,
    apiUrl: apiUrl ?? '',
    where: `stack ${stack.name}`,
    doc,
    tableName,
    sqs: createSqsClient({ region: stack.region, endpointFromRegion: true }),
    s3: createS3Client({ region: stack.region, s3Endpoint: undefined }),
    queueUrl,
    ...(batchDlqUrl ? { deadLetterQueueUrl: batchDlqUrl } : {}),
    ...(uploadsBucket ? { bucket: uploadsBucket } : {}),
  };
}

/** `parl --stack X batch submit …`. */
export async function submitToStack(opts: BatchSubmitOptions, stack: DeployedStack): Promise<number> {
  const intake = stackIntake(stack);
  try {
    return await submitToIntake(opts, intake);
  } finally {
    closeIntake(intake);
  }
}

/** `parl --stack X batch status`: the stack's queue depths and the jobs started through them. */
export async function stackBatchStatus(stack: DeployedStack) {
  const intake = stackIntake(stack);
  try {
    return await intakeStatus(intake);
  } finally {
    closeIntake(intake);
  }
}
