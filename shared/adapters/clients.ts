import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import type { AppConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import { DynamoJobStore } from './dynamo-job-store';
import { DynamoPolicyStore } from './dynamo-policy-store';
import { OpenAiLlm } from './openai-llm';

/** Static credentials for local endpoints (dynalite, fauxqs), which do not check them. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * The one client factory: local and cloud differ only in the endpoints the config carries.
 */
export function createDynamoDocumentClient(config: AppConfig): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: config.region,
    ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint, credentials: LOCAL_CREDENTIALS } : {}),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** Reads the provider key: from the environment, else from Secrets Manager (cloud). */
export async function resolveApiKey(config: AppConfig): Promise<string | undefined> {
  if (config.llm.apiKey) return config.llm.apiKey;
  if (!config.llm.apiKeySecretArn) return undefined;
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const out = await new SecretsManagerClient({ region: config.region }).send(
    new GetSecretValueCommand({ SecretId: config.llm.apiKeySecretArn }),
  );
  if (!out.SecretString)
    throw new ConfigError('MOONSHOT_API_KEY_SECRET_ARN', 'the secret has no string value');
  return out.SecretString;
}

export function createLlm(config: AppConfig, apiKey: string | undefined): OpenAiLlm {
  const client = new OpenAI({
    baseURL: config.llm.baseUrl,
    // Local OpenAI-compatible servers (Ollama, the simulator) accept any key.
    apiKey: apiKey ?? 'no-key',
    maxRetries: config.llm.maxRetries,
    timeout: config.llm.timeoutMs,
  });
  return new OpenAiLlm(client, config.llm.model);
}

/** Everything a handler needs, built from the config. */
export interface Deps {
  config: AppConfig;
  store: DynamoJobStore;
  policies: DynamoPolicyStore;
  llm: OpenAiLlm;
}

export async function createDeps(config: AppConfig): Promise<Deps> {
  const doc = createDynamoDocumentClient(config);
  const store = new DynamoJobStore(doc, config.tableName);
  const policies = new DynamoPolicyStore(doc, config.tableName);
  return { config, store, policies, llm: createLlm(config, await resolveApiKey(config)) };
}
