/**
 * The `sdk` suite: what one small DynamoDB request costs the thread that sends it, through the
 * document client every adapter takes, against an in-process endpoint that answers at once (so the
 * figure is the client's own work: middleware, serialization, parsing, no database).
 *
 *   npm run bench -- --suite sdk [--requests 10000] [--rounds 3]
 *
 * Three clients take turns, `rounds` times each, `requests` GetItems one after another:
 * - `sdk`: the SDK's DynamoDB and document clients, configured as the factory does for a local
 *   endpoint (fixed signer, unneeded middleware removed), their configuration left as the SDK makes it;
 * - `sdk + withFastConfig`: the same client, its configuration given fast properties;
 * - `factory`: `createDynamoDocumentClient`, what the handlers use.
 * In a job every sub-agent's requests run on the one thread the embedded stack shares (in Lambda,
 * on each function's own), so this cost is paid in series with everything else the job does.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  createDynamoDocumentClient,
  LOCAL_CREDENTIALS,
  LOCAL_UNNEEDED_MIDDLEWARE,
  localDynamoSigner,
  withFastConfig,
} from '#shared/adapters/aws/clients';
import { inProcessRequestHandler, registerInProcessHandler } from '#shared/adapters/aws/in-process-endpoints';
import { type BenchArgs, median, numberArg, printTable, saveResult } from '../common';

const ENDPOINT = 'http://127.0.0.1:1';
const REGION = 'us-east-1';

/** The SDK's clients as the factory configures them for a local endpoint, without `withFastConfig`. */
function sdkClient(): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: REGION,
    endpoint: ENDPOINT,
    credentials: LOCAL_CREDENTIALS,
    signer: localDynamoSigner,
    ...(inProcessRequestHandler(ENDPOINT) ? { requestHandler: inProcessRequestHandler(ENDPOINT)! } : {}),
  });
  for (const name of LOCAL_UNNEEDED_MIDDLEWARE) client.middlewareStack.remove(name);
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

const CLIENTS: Record<string, () => DynamoDBDocumentClient> = {
  sdk: sdkClient,
  'sdk + withFastConfig': () => withFastConfig(sdkClient()),
  factory: () => createDynamoDocumentClient({ region: REGION, dynamodbEndpoint: ENDPOINT }),
};

/** µs a GetItem, `n` one after another (after a warm-up of a fifth as many). */
async function microsPerGet(client: DynamoDBDocumentClient, n: number): Promise<number> {
  const get = () =>
    client.send(new GetCommand({ TableName: 'Data', Key: { pk: 'TENANT#t#JOB#j', sk: 'JOB' } }));
  for (let i = 0; i < n / 5; i++) await get();
  const started = performance.now();
  for (let i = 0; i < n; i++) await get();
  return ((performance.now() - started) / n) * 1000;
}

export async function sdkSuite(args: BenchArgs): Promise<void> {
  const requests = Math.max(100, numberArg(args, 'requests', 10_000));
  const rounds = Math.max(1, numberArg(args, 'rounds', 3));
  const item = { Item: { pk: { S: 'TENANT#t#JOB#j' }, sk: { S: 'JOB' }, status: { S: 'RUNNING' } } };
  const body = new TextEncoder().encode(JSON.stringify(item));
  const stop = registerInProcessHandler(ENDPOINT, async () => ({
    statusCode: 200,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body,
  }));
  const micros: Record<string, number[]> = Object.fromEntries(Object.keys(CLIENTS).map((k) => [k, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const [name, make] of Object.entries(CLIENTS)) {
        const us = await microsPerGet(make(), requests);
        micros[name]!.push(us);
        process.stderr.write(`round ${round}, ${name}: ${us.toFixed(1)} µs a GetItem\n`);
      }
    }
  } finally {
    await stop();
  }
  const summary = Object.entries(micros).map(([client, us]) => ({
    client,
    medianMicros: median(us),
    rounds: us,
  }));
  printTable([
    ['client', 'µs a GetItem (median of rounds)', 'rounds'],
    ...summary.map((s) => [
      s.client,
      s.medianMicros.toFixed(1),
      s.rounds.map((r) => r.toFixed(1)).join(' · '),
    ]),
  ]);
  const result = {
    suite: 'sdk',
    at: new Date().toISOString(),
    machine: { node: process.version },
    params: { requests, rounds },
    summary,
  };
  saveResult(args, 'sdk', result);
}
