import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { type CfnTemplate, resourcesOfType } from '#local/template';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { registerInProcessServer } from '#shared/adapters/aws/in-process-endpoints';

/** A dynalite server on loopback. */
export interface LocalDynamo {
  endpoint: string;
  /** Requests served since start, by operation (`X-Amz-Target` without its prefix, e.g. `PutItem`). */
  readonly requests: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

/** Starts dynalite on 127.0.0.1 (in memory, or in `path` on disk). */
export async function startDynalite(opts: { path?: string; port?: number } = {}): Promise<LocalDynamo> {
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(opts.path ? { path: opts.path } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const requests: Record<string, number> = {};
  server.on('request', (req: { headers: Record<string, string | string[] | undefined> }) => {
    const operation = String(req.headers['x-amz-target'] ?? 'unknown').replace(/^DynamoDB_\d+\./, '');
    requests[operation] = (requests[operation] ?? 0) + 1;
  });
  const endpoint = `http://127.0.0.1:${port}`;
  // The stack's own clients skip the socket (the server stays on loopback for everyone else): a
  // request is emitted to the server's listeners as one that came through a socket would be.
  const unregister = registerInProcessServer(endpoint, (req, res) => server.emit('request', req, res));
  return {
    endpoint,
    requests,
    close: async () => {
      await unregister();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Creates every AWS::DynamoDB::Table of the templates, as the template defines it (existing ones are kept). */
export async function createTablesFromTemplates(
  endpoint: string,
  region: string,
  templates: CfnTemplate[],
): Promise<string[]> {
  const client = createDynamoClient({ region, dynamodbEndpoint: endpoint });
  const names: string[] = [];
  try {
    for (const template of templates) {
      for (const [logicalId, res] of resourcesOfType(template, 'AWS::DynamoDB::Table')) {
        const p = (res.Properties ?? {}) as Record<string, unknown>;
        const name = typeof p.TableName === 'string' ? p.TableName : logicalId;
        const input: CreateTableCommandInput = {
          TableName: name,
          KeySchema: p.KeySchema as CreateTableCommandInput['KeySchema'],
          AttributeDefinitions: p.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
          BillingMode: 'PAY_PER_REQUEST',
          ...(p.GlobalSecondaryIndexes
            ? {
                GlobalSecondaryIndexes: (p.GlobalSecondaryIndexes as Record<string, unknown>[]).map((g) => ({
                  IndexName: g.IndexName as string,
                  KeySchema: g.KeySchema as NonNullable<CreateTableCommandInput['KeySchema']>,
                  Projection: g.Projection as { ProjectionType: 'ALL' },
                })),
              }
            : {}),
        };
        try {
          await client.send(new CreateTableCommand(input));
        } catch (error) {
          if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
        }
        await untilActive(client, name);
        names.push(name);
      }
    }
  } finally {
    client.destroy();
  }
  return names;
}

/**
 * Waits for a table to be ACTIVE, as a client of DynamoDB must: dynalite answers CreateTable with
 * CREATING and turns it ACTIVE on a timer, so a request sent at once (in-process, without a
 * socket's delay) would find no table.
 */
async function untilActive(client: DynamoDBClient, name: string): Promise<void> {
  for (let look = 0; look < 200; look++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`table ${name} did not become ACTIVE`);
}
