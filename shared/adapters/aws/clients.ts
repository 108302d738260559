import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AppConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import { tracer } from '../telemetry';
import { inProcessRequestHandler } from './in-process-endpoints';

/**
 * The one client factory: local and cloud differ only in the endpoints the config carries. With an
 * endpoint (dynalite, fauxqs, the local Step Functions API) a client gets {@link LOCAL_CREDENTIALS};
 * without one it uses the SDK's default chain against AWS itself. In Lambda every client is traced
 * (each call an X-Ray subsegment, through Powertools Tracer); elsewhere the tracer is off and the
 * clients are left as they are.
 */

/** Static credentials for local endpoints (dynalite, fauxqs), which do not check them. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * The signer of requests to a local DynamoDB endpoint: dynalite checks that an Authorization header
 * of the SigV4 shape and a date are there, never the signature, so a fixed header spares every
 * request the hashing of its body and the HMAC chain (a tenth of the CPU a local request costs).
 */
export const localDynamoSigner = {
  sign<R extends { headers: Record<string, string> }>(request: R): Promise<R> {
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    request.headers.authorization = `AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/${amzDate.slice(0, 8)}/local/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=local`;
    request.headers['x-amz-date'] = amzDate;
    return Promise.resolve(request);
  },
};

/** The request handler of an endpoint served in this process (see ./in-process-endpoints), if it is. */
const inProcess = (endpoint: string) => {
  const requestHandler = inProcessRequestHandler(endpoint);
  return requestHandler ? { requestHandler } : {};
};

/**
 * Middleware a client of a local DynamoDB endpoint goes without: the user agent, Lambda's
 * recursion-detection header, the request logger (no logger is set) and the Host header (Node's
 * HTTP client sets it; an in-process request has no socket). dynalite reads none of them, and the
 * SDK resolves a command's whole stack on every send: each one dropped is work that all of a local
 * job's sub-agents did on the one thread they share (about a tenth of that thread's time at 100).
 * A traced client keeps its stack: Powertools places its own user-agent step after the SDK's.
 */
export const LOCAL_UNNEEDED_MIDDLEWARE = [
  'getUserAgentMiddleware',
  'recursionDetectionMiddleware',
  'loggerMiddleware',
  'hostHeaderMiddleware',
] as const;

/**
 * Gives a client's resolved configuration fast properties again, and returns the client. V8 keeps
 * that object (about 50 properties, some deleted while the SDK resolves it) in dictionary mode, and
 * the SDK copies it (`{ ...config }`) three times a request, for the serializer, the endpoint and
 * the deserializer: about 9 µs a copy, a quarter of what a small request costs the calling thread.
 * An object V8 sees used as a prototype, and read through a few times, is turned back to fast
 * properties (the same object and values; about 1 µs a copy): a small GetItem then costs its
 * thread ~38 µs instead of ~64 (`npm run bench -- --suite sdk`; `aws-clients-fast-config.test.ts`
 * checks that it takes).
 */
export function withFastConfig<C extends { config: object }>(client: C): C {
  // A property read (an inline cache) through the prototype is what turns it: `Reflect.get` is not one.
  const Reader = function Reader() {} as unknown as new () => { region?: unknown };
  Reader.prototype = client.config;
  for (let i = 0; i < 100; i++) void new Reader().region;
  return client;
}

/** A DynamoDB client for the config's endpoint (in-process when the embedded stack serves it). */
export function createDynamoClient(config: Pick<AppConfig, 'region' | 'dynamodbEndpoint'>): DynamoDBClient {
  const client = tracer.captureAWSv3Client(
    new DynamoDBClient({
      region: config.region,
      ...(config.dynamodbEndpoint
        ? {
            endpoint: config.dynamodbEndpoint,
            credentials: LOCAL_CREDENTIALS,
            signer: localDynamoSigner,
            ...inProcess(config.dynamodbEndpoint),
          }
        : {}),
    }),
  );
  if (config.dynamodbEndpoint && !tracer.isTracingEnabled())
    for (const name of LOCAL_UNNEEDED_MIDDLEWARE) client.middlewareStack.remove(name);
  return withFastConfig(client);
}

/** The document client every DynamoDB adapter takes (undefined attributes are left out). */
export function createDynamoDocumentClient(
  config: Pick<AppConfig, 'region' | 'dynamodbEndpoint'>,
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(createDynamoClient(config), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/** A Step Functions client for the config's endpoint (the embedded stack's, locally). */
export function createSfnClient(config: Pick<AppConfig, 'region' | 'sfnEndpoint'>): SFNClient {
  return withFastConfig(
    tracer.captureAWSv3Client(
      new SFNClient({
        region: config.region,
        ...(config.sfnEndpoint ? { endpoint: config.sfnEndpoint, credentials: LOCAL_CREDENTIALS } : {}),
      }),
    ),
  );
}

/** An S3 client for the config's endpoint (fauxqs locally: path-style, any credentials). */
export function createS3Client(config: Pick<AppConfig, 'region' | 's3Endpoint'>): S3Client {
  return withFastConfig(
    tracer.captureAWSv3Client(
      new S3Client({
        region: config.region,
        ...(config.s3Endpoint
          ? { endpoint: config.s3Endpoint, forcePathStyle: true, credentials: LOCAL_CREDENTIALS }
          : {}),
      }),
    ),
  );
}

/**
 * An SQS client for an endpoint (fauxqs locally; SQS itself without one): used by the local CLI.
 * `endpointFromRegion`: send to the region's endpoint (or `AWS_ENDPOINT_URL_SQS`) whatever host a
 * queue URL names, as `parl --stack` does (a deployed stack's queues are in its region).
 */
export function createSqsClient(config: {
  region: string;
  sqsEndpoint?: string | undefined;
  endpointFromRegion?: boolean;
}): SQSClient {
  return withFastConfig(
    tracer.captureAWSv3Client(
      new SQSClient({
        region: config.region,
        ...(config.endpointFromRegion ? { useQueueUrlAsEndpoint: false } : {}),
        ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint, credentials: LOCAL_CREDENTIALS } : {}),
      }),
    ),
  );
}

/** Reads the provider key: from the environment, else from Secrets Manager (cloud). */
export async function resolveApiKey(config: AppConfig): Promise<string | undefined> {
  if (config.llm.apiKey) return config.llm.apiKey;
  if (!config.llm.apiKeySecretArn) return undefined;
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const out = await tracer
    .captureAWSv3Client(new SecretsManagerClient({ region: config.region }))
    .send(new GetSecretValueCommand({ SecretId: config.llm.apiKeySecretArn }));
  if (!out.SecretString)
    throw new ConfigError('MOONSHOT_API_KEY_SECRET_ARN', 'the secret has no string value');
  return out.SecretString;
}
