import { createDynamoDocumentClient, createS3Client, createSfnClient } from '#shared/adapters/aws/clients';
import { S3ObjectReader } from '#shared/adapters/aws/s3-object-reader';
import { SfnWorkflow } from '#shared/adapters/aws/sfn-workflow';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import type { AppConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import type { WorkflowStarter } from '#shared/ports/workflow';
import { DEFAULT_START_WAIT, type StartWait } from '#shared/use-cases/accept-job';
import type { BatchRecordDeps } from '#shared/use-cases/process-batch-record';

/**
 * The batch function's dependencies, built from the config as the API's are: jobs and tenants in
 * the table, budgets and idempotency claims, the workflow
 * through the Step Functions API, uploads through S3. Locally only the endpoints differ.
 */
export function createBatchDeps(
  config: AppConfig,
  options: Partial<StartWait> & {
    /** Wraps the workflow starter (the local runtime counts the jobs the intake starts). */
    decorateStarter?: (starter: WorkflowStarter) => WorkflowStarter;
  } = {},
): BatchRecordDeps {
  const { decorateStarter = (s) => s, ...startWait } = options;
  if (!config.stateMachineArn)
    throw new ConfigError('STATE_MACHINE_ARN', 'is required by the batch function');
  const doc = createDynamoDocumentClient(config);
  return {
    tenants: new DynamoTenantStore(doc, config.tableName),
    store: new DynamoJobStore(doc, config.tableName),
    starter: decorateStarter(new SfnWorkflow(createSfnClient(config), config.stateMachineArn)),
    ledger: new DynamoBudgetLedger(doc, config.tableName),
    idempotency: new DynamoIdempotencyStore(doc, config.tableName),
    config,
    startWait: { ...DEFAULT_START_WAIT, ...startWait },
    objects: new S3ObjectReader(createS3Client(config)),
  };
}
