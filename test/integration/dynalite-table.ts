import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createTablesFromTemplates, type LocalDynamo, startDynalite } from '#local/emulators/dynamo';
import { synthesizeApp } from '#local/synth';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { loadConfig } from '#shared/config';

/** dynalite with the app's table, and a document client of it. */
export interface DynaliteTable {
  dynamo: LocalDynamo;
  tableName: string;
  doc: DynamoDBDocumentClient;
}

/** Starts dynalite and creates the table the app's templates define (for an adapter's tests). */
export async function startDynaliteTable(): Promise<DynaliteTable> {
  const dynamo = await startDynalite();
  const app = synthesizeApp();
  const [tableName = ''] = await createTablesFromTemplates(
    dynamo.endpoint,
    'us-east-1',
    Object.values(app.templates),
  );
  app.dispose();
  const doc = createDynamoDocumentClient(
    loadConfig({ TABLE_NAME: tableName, DYNAMODB_ENDPOINT: dynamo.endpoint }),
  );
  return { dynamo, tableName, doc };
}

/**
 * A document client that hands every command to `doc`, after `before` has seen it (and may act
 * first, or throw instead); `sent` lists the commands in order.
 */
export function watchedClient(
  doc: DynamoDBDocumentClient,
  before: (command: object, index: number) => Promise<void> | void = () => {},
): { client: DynamoDBDocumentClient; sent: object[] } {
  const sent: object[] = [];
  const client = {
    send: async (command: object) => {
      sent.push(command);
      await before(command, sent.length - 1);
      return doc.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}
