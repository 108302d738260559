/**
 * The outputs of the deployed workflow stack: what an operator (and `parl --stack`) needs to reach
 * the service's resources. The CDK app writes them; the CLI reads them back with DescribeStacks.
 */
export const STACK_OUTPUTS = {
  apiUrl: 'ApiUrl',
  tableName: 'TableName',
  stateMachineArn: 'StateMachineArn',
  batchQueueUrl: 'BatchQueueUrl',
  batchDlqUrl: 'BatchDlqUrl',
  uploadsBucket: 'UploadsBucket',
  secretArn: 'SecretArn',
  dashboardUrl: 'DashboardUrl',
  dashboardSiteUrl: 'DashboardSiteUrl',
  region: 'Region',
} as const;

/** One of the stack's outputs, by what it is. */
export type StackOutputName = keyof typeof STACK_OUTPUTS;

/** The stack's outputs, by what they are (a stack deployed without batch has no queue outputs). */
export type StackOutputs = Partial<Record<StackOutputName, string>>;
