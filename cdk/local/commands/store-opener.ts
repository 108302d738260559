/**
 * How the `parl` commands that read stored data (policy show, trajectories export) reach the table:
 * through an injected opener, so the lead can point them at the local data directory (`.parl/`)
 * without touching the commands.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { UsageError } from '../cli-common';

/** An open table: a document client, the table's name, and how to let go of it. */
export interface StoreHandle {
  doc: DynamoDBDocumentClient;
  tableName: string;
  close(): Promise<void>;
}

/** Opens the table a command reads. */
export type StoreOpener = () => Promise<StoreHandle>;

/** The tenant `parl run` uses (LOCAL_TENANT of cdk/local/runtime.ts, which is too heavy to import here). */
export const DEFAULT_CLI_TENANT = 'local';

/**
 * Opens the table named by PARL_TABLE_NAME at PARL_DYNAMODB_ENDPOINT (a running dynalite or
 * DynamoDB Local). Fails with a UsageError naming the variable when one is unset.
 */
export function envStoreOpener(env: Record<string, string | undefined> = process.env): StoreOpener {
  return () => {
    const endpoint = env.PARL_DYNAMODB_ENDPOINT?.trim();
    const tableName = env.PARL_TABLE_NAME?.trim();
    if (!endpoint) {
      return Promise.reject(
        new UsageError('PARL_DYNAMODB_ENDPOINT is not set: the endpoint of the DynamoDB that holds the jobs'),
      );
    }
    if (!tableName) {
      return Promise.reject(new UsageError('PARL_TABLE_NAME is not set: the table that holds the jobs'));
    }
    const client = new DynamoDBClient({
      endpoint,
      region: env.AWS_REGION ?? 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    return Promise.resolve({
      doc,
      tableName,
      close: () => {
        client.destroy();
        return Promise.resolve();
      },
    });
  };
}
