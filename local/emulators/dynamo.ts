import type { EventLoopUtilization } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { type CfnTemplate, resourcesOfType } from '#local/template';
import { WorkerCalls } from '#local/worker-calls';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { type InProcessAnswer, registerInProcessHandler } from '#shared/adapters/aws/in-process-endpoints';

/** A dynalite server on loopback. */
export interface LocalDynamo {
  endpoint: string;
  /** Requests served since start, by operation (`X-Amz-Target` without its prefix, e.g. `PutItem`). */
  readonly requests: Readonly<Record<string, number>>;
  /** Its thread's event-loop utilisation so far (`performance.eventLoopUtilization()` of the worker). */
  threadUse(): EventLoopUtilization;
  close(): Promise<void>;
}

type FromThread =
  | { listening: number }
  | { served: string }
  | { id: number; answer: InProcessAnswer }
  | { id: number; error: string };

/**
 * Starts dynalite on 127.0.0.1 (in memory, or in `path` on disk), in a worker thread: its
 * validation, expression parsing, storage and garbage take a third of the CPU of a local job, and
 * on the main thread they would queue before every handler's next step. The stack's own clients
 * hand their requests to the thread directly (no socket); anyone else reaches it on loopback.
 */
export async function startDynalite(opts: { path?: string; port?: number } = {}): Promise<LocalDynamo> {
  const worker = new Worker(new URL('./dynalite-thread.ts', import.meta.url), {
    workerData: { path: opts.path, port: opts.port },
  });
  const requests: Record<string, number> = {};
  const count = (target: string | undefined) => {
    const operation = String(target ?? 'unknown').replace(/^DynamoDB_\d+\./, '');
    requests[operation] = (requests[operation] ?? 0) + 1;
  };
  const listening = Promise.withResolvers<number>();
  const calls = new WorkerCalls<InProcessAnswer>(
    worker,
    () => Object.assign(new Error('socket hang up (dynalite stopped)'), { code: 'ECONNRESET' }),
    (error) => listening.reject(error),
  );
  worker.on('message', (message: FromThread) => {
    if ('listening' in message) listening.resolve(message.listening);
    else if ('served' in message) count(message.served);
    else if ('answer' in message) calls.settle(message.id, { value: message.answer });
    else calls.settle(message.id, { error: new Error(message.error) });
  });
  const port = await listening.promise;
  const endpoint = `http://127.0.0.1:${port}`;
  const unregister = registerInProcessHandler(endpoint, (request) => {
    count(request.headers['x-amz-target']);
    return calls.call((id) => {
      // An exact copy, moved to the thread: a Buffer from the SDK is a view of an 8 KiB pool that
      // posting would clone whole, at 50 µs a request of main-thread time.
      const body = new Uint8Array(request.body);
      worker.postMessage({ id, request: { ...request, body } }, [body.buffer]);
    });
  });
  return {
    endpoint,
    requests,
    threadUse: () => worker.performance.eventLoopUtilization(),
    close: async () => {
      await unregister();
      // A thread that already stopped (it crashed) takes no message and has nothing to close.
      if (!calls.stopped) worker.postMessage({ close: true });
      await calls.exited;
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
 * Creates a bare table keyed as the app's (`pk` hash, `sk` range, no index) and waits until it is
 * ACTIVE: all a limiter needs, for its tests and bench.
 */
export async function createKeyTable(endpoint: string, region: string, tableName: string): Promise<void> {
  const client = createDynamoClient({ region, dynamodbEndpoint: endpoint });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await untilActive(client, tableName);
  } finally {
    client.destroy();
  }
}

/**
 * Waits for a table to be ACTIVE, as a client of DynamoDB must: dynalite answers CreateTable with
 * CREATING and turns it ACTIVE on a timer, so a request sent at once (in-process, without a
 * socket's delay) would find no table.
 */
export async function untilActive(client: DynamoDBClient, name: string): Promise<void> {
  for (let look = 0; look < 200; look++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`table ${name} did not become ACTIVE`);
}
