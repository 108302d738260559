import { createDynamoDocumentClient, createS3Client, createSfnClient } from '#shared/adapters/aws/clients';
import { S3ObjectReader } from '#shared/adapters/aws/s3-object-reader';
import { SfnWorkflow } from '#shared/adapters/aws/sfn-workflow';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { LedgerJobSubmitter, type LedgerJobSubmitterOptions } from '#shared/adapters/ledger-job-submitter';
import type { AppConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import type { WorkflowStarter } from '#shared/ports/workflow';
import type { BatchRecordDeps } from '#shared/use-cases/process-batch-record';

/**
 * The batch function's dependencies, built from the config as the API's are: jobs and tenants in
 * the table, budgets and idempotency claims, the workflow
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
  return {
    submitter: new LedgerJobSubmitter(
      {
        store: new DynamoJobStore(doc, config.tableName),
        starter: decorateStarter(new SfnWorkflow(createSfnClient(config), config.stateMachineArn)),
        ledger: new DynamoBudgetLedger(doc, config.tableName),
        idempotency: new DynamoIdempotencyStore(doc, config.tableName),
        stepBudget: config.subagentStepBudget,
      },
      submitterOptions,
    ),
    tenants: new DynamoTenantStore(doc, config.tableName),
    objects: new S3ObjectReader(createS3Client(config)),
    config,
  };
}
