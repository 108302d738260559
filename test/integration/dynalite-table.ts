import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import {
  createKeyTable,
  createTablesFromTemplates,
  type LocalDynamo,
  startDynalite,
} from '#local/emulators/dynamo';
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

/** What dynalite answered a {@link rawRequest}: its status and its JSON body. */
export interface RawAnswer {
  status: number;
  body: { __type?: string; message?: string } & Record<string, unknown>;
}

/** A raw DynamoDB JSON request to `endpoint`, as a client that skips the SDK's own checks would send it. */
export async function rawRequest(endpoint: string, target: string, body: unknown): Promise<RawAnswer> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDB_20120810.${target}`,
      'x-amz-date': '20261206T000000Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=key/20261206/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as RawAnswer['body'] };
}

/** Starts dynalite with a bare `pk`/`sk` table named `tableName` (what a limiter needs). */
export async function startKeyTable(tableName: string): Promise<DynaliteTable> {
  const dynamo = await startDynalite();
  await createKeyTable(dynamo.endpoint, 'us-east-1', tableName);
  const doc = createDynamoDocumentClient({ region: 'us-east-1', dynamodbEndpoint: dynamo.endpoint });
  return { dynamo, tableName, doc };
}

/**
 * A table for the tests of the file (or `describe` block) that calls this: started before them by
 * `start` (the app's table by default), closed after them. Its fields are set once tests run.
 */
export function useDynaliteTable(start: () => Promise<DynaliteTable> = startDynaliteTable): DynaliteTable {
  const table = {} as DynaliteTable;
  // The config's hook timeout (120 s): synthesizing the app takes long on a loaded machine.
  beforeAll(async () => {
    Object.assign(table, await start());
  });
  afterAll(async () => {
    table.doc?.destroy();
    await table.dynamo?.close();
  });
  return table;
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
