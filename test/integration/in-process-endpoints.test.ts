import { CreateTableCommand, ListTablesCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { startDynalite } from '#local/emulators/dynamo';
import { createDynamoClient, LOCAL_UNNEEDED_MIDDLEWARE } from '#shared/adapters/aws/clients';
import { inProcessRequestHandler } from '#shared/adapters/aws/in-process-endpoints';

describe('in-process endpoints', () => {
  it('hands a client of the embedded dynalite its server directly, and fails as a closed socket once it stopped', async () => {
    // Prepare
    const dynamo = await startDynalite();
    const client = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: dynamo.endpoint });
    try {
      // Act
      const tables = await client.send(new ListTablesCommand({}));
      await dynamo.close();
      const afterClose = await client.send(new ListTablesCommand({})).catch((error: unknown) => error);
      // Assess
      expect(tables.TableNames).toEqual([]);
      expect(dynamo.requests.ListTables).toBe(1); // every listener of the server saw it
      expect(inProcessRequestHandler(dynamo.endpoint)).toBeUndefined();
      expect((afterClose as { code?: string }).code).toBe('ECONNREFUSED');
    } finally {
      client.destroy();
    }
  });

  it('answers the writes in flight before it closes the database under them', async () => {
    // Prepare: a table
    const dynamo = await startDynalite();
    const client = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: dynamo.endpoint });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      await client.send(
        new CreateTableCommand({
          TableName: 'writes',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      // Act: close as soon as the server has been handed all 200 (before it has answered them all)
      const writes = Promise.allSettled(
        Array.from({ length: 200 }, (_, i) =>
          client.send(new PutItemCommand({ TableName: 'writes', Item: { pk: { S: `k${i}` } } })),
        ),
      );
      while ((dynamo.requests.PutItem ?? 0) < 200) await new Promise((r) => setImmediate(r));
      await dynamo.close();
      const outcomes = await writes;
      await new Promise((r) => setTimeout(r, 100));
      // Assess: every write sent before the close was answered, and nothing threw inside the server
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      client.destroy();
    }
  });

  it('leaves a client of any other endpoint on HTTP', () => {
    expect(inProcessRequestHandler('http://127.0.0.1:9')).toBeUndefined();
    expect(inProcessRequestHandler(undefined)).toBeUndefined();
  });

  it('gives a local client none of the middleware dynalite does not read, over loopback as in-process', async () => {
    // Prepare: the embedded dynalite reached in-process, and by another process's client over HTTP
    const dynamo = await startDynalite();
    const local = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: dynamo.endpoint });
    const overHttp = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: `${dynamo.endpoint}/` });
    const cloud = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: undefined });
    try {
      // Act
      const inProcess = await local.send(new ListTablesCommand({}));
      const loopback = await overHttp.send(new ListTablesCommand({}));
      // Assess
      expect(inProcessRequestHandler(`${dynamo.endpoint}/`)).toBeUndefined();
      const names = (client: typeof local) => client.middlewareStack.identify().join(' ');
      for (const name of LOCAL_UNNEEDED_MIDDLEWARE) {
        expect(names(local)).not.toContain(name);
        expect(names(overHttp)).not.toContain(name);
        expect(names(cloud)).toContain(name);
      }
      expect(names(local)).toContain('httpSigningMiddleware');
      expect(inProcess.TableNames).toEqual([]);
      expect(loopback.TableNames).toEqual([]);
      // The thread counts a loopback request by a message of its own, which may come after the answer.
      await vi.waitFor(() => expect(dynamo.requests.ListTables).toBe(2));
    } finally {
      local.destroy();
      overHttp.destroy();
      cloud.destroy();
      await dynamo.close();
    }
  });
});
