import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { startDynalite } from '#local/emulators/dynamo';
import { createDynamoClient } from '#shared/adapters/aws/clients';
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

  it('leaves a client of any other endpoint on HTTP', () => {
    expect(inProcessRequestHandler('http://127.0.0.1:9')).toBeUndefined();
    expect(inProcessRequestHandler(undefined)).toBeUndefined();
  });
});
