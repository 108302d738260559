import { createDynamoDocumentClient, createS3Client, createSfnClient } from '#shared/adapters/aws/clients';
import { S3ObjectReader } from '#shared/adapters/aws/s3-object-reader';
import { SfnWorkflow } from '#shared/adapters/aws/sfn-workflow';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { LedgerJobSubmitter, type LedgerJobSubmitterOptions } from '#shared/adapters/ledger-job-submitter';
import type { AppConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import type { WorkflowStarter } from '#shared/ports/workflow';
import type { BatchRecordDeps } from '#shared/use-cases/process-batch-record';

/**
 * The batch function's dependencies, built from the config as the API's are: jobs and tenants in
 * the table (the tenant store is also the budget ledger and the idempotency store), the workflow
 * through the Step Functions API, uploads through S3. Locally only the endpoints differ.
 */
export function createBatchDeps(
  config: AppConfig,
  options: LedgerJobSubmitterOptions & {
    /** Wraps the workflow starter (the local runtime counts the jobs the intake starts). */
    decorateStarter?: (starter: WorkflowStarter) => WorkflowStarter;
  } = {},
): BatchRecordDeps {
  const { decorateStarter = (s) => s, ...submitterOptions } = options;
  if (!config.stateMachineArn)
    throw new ConfigError('STATE_MACHINE_ARN', 'is required by the batch function');
  const doc = createDynamoDocumentClient(config);
  const tenants = new DynamoTenantStore(doc, config.tableName);
  return {
    submitter: new LedgerJobSubmitter(
      {
        store: new DynamoJobStore(doc, config.tableName),
        starter: decorateStarter(new SfnWorkflow(createSfnClient(config), config.stateMachineArn)),
        ledger: tenants,
        idempotency: tenants,
        stepBudget: config.subagentStepBudget,
      },
      submitterOptions,
    ),
    tenants,
    objects: new S3ObjectReader(createS3Client(config)),
    config,
  };
}
