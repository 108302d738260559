import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { type BatchConfig, loadBatchConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import type { BatchRecordDeps } from '#shared/use-cases/process-batch-record';
import { createDynamoDocumentClient } from './clients';
import { DynamoJobStore } from './dynamo-job-store';
import { S3ObjectReader } from './s3-object-reader';
import { SfnWorkflowStarter } from './sfn-workflow-starter';
import { StaticTenantDirectory, StoreJobSubmitter } from './store-job-submitter';

/** An S3 client for the config's endpoint (fauxqs locally: path-style, any credentials). */
export function createS3Client(config: Pick<BatchConfig, 'region' | 's3Endpoint'>): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.s3Endpoint
      ? {
          endpoint: config.s3Endpoint,
          forcePathStyle: true,
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
  });
}

/** The batch function's dependencies in the cloud: DynamoDB, Step Functions and S3 clients from the config. */
export function createBatchDeps(config: BatchConfig): BatchRecordDeps {
  if (!config.stateMachineArn) throw new ConfigError('STATE_MACHINE_ARN', 'is required but not set');
  const store = new DynamoJobStore(createDynamoDocumentClient(config), config.tableName);
  const starter = new SfnWorkflowStarter(new SFNClient({ region: config.region }), config.stateMachineArn);
  return {
    submitter: new StoreJobSubmitter(store, starter),
    tenants: new StaticTenantDirectory(config.tenants),
    objects: new S3ObjectReader(createS3Client(config)),
    config,
  };
}

/** Builds the batch dependencies from the environment on first use and keeps them for warm invocations. */
export function batchDepsFromEnvironment(): () => Promise<BatchRecordDeps> {
  let deps: BatchRecordDeps | undefined;
  return () => {
    try {
      deps ??= createBatchDeps(loadBatchConfig(process.env));
      return Promise.resolve(deps);
    } catch (error) {
      return Promise.reject(error);
    }
  };
}
