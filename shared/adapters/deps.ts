import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import {
  createDynamoDocumentClient,
  createS3Client,
  createSfnClient,
  resolveApiKey,
} from '#shared/adapters/aws/clients';
import { S3ItemStore } from '#shared/adapters/aws/s3-item-store';
import { SfnWorkflow } from '#shared/adapters/aws/sfn-workflow';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoPolicyStore } from '#shared/adapters/dynamo/policy-store';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { OpenAiLlm } from '#shared/adapters/llm/openai-llm';
import type { AppConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import type { ProviderMetrics } from '#shared/domain/types';
import type { LlmClient } from '#shared/ports/llm';

/** The provider's client alone: no retries of its own (the SDK's are off; {@link LimitedLlm} retries). */
export function createLlm(config: AppConfig, apiKey: string | undefined): OpenAiLlm {
  const client = new OpenAI({
    baseURL: config.llm.baseUrl,
    // Local OpenAI-compatible servers (Ollama, the simulator) accept any key.
    apiKey: apiKey ?? 'no-key',
    maxRetries: 0,
    timeout: config.llm.timeoutMs,
  });
  return new OpenAiLlm(client, config.llm.model);
}

/** The shared limiter of the configured provider key, in the table (undefined when switched off). */
export function createRateLimiter(
  config: AppConfig,
  apiKey: string | undefined,
  client: DynamoDBDocumentClient,
): DynamoRateLimiter | undefined {
  if (!config.provider.limiter) return undefined;
  return new DynamoRateLimiter({
    client,
    tableName: config.tableName,
    pk: providerPartitionKey(config.llm.baseUrl, apiKey),
    policy: config.provider.policy,
    maxWaitMs: config.provider.maxWaitMs,
    pollMs: config.provider.pollMs,
  });
}

/** The provider part of a job's metrics, without the per-job counts (those come from the steps). */
export type ProviderInfo = Omit<ProviderMetrics, 'calls' | 'retries' | 'rateLimited' | 'waitedMs'>;

export function providerInfo(config: AppConfig): ProviderInfo {
  const { limits } = config.provider.policy;
  return {
    name: config.provider.name,
    model: config.llm.model,
    baseUrl: config.llm.baseUrl,
    ...(config.provider.tier ? { tier: config.provider.tier } : {}),
    limits: {
      maxConcurrency: limits.maxConcurrency,
      rpm: limits.rpm ?? null,
      tpm: limits.tpm ?? null,
      windowMs: limits.windowMs,
    },
    limiter: config.provider.limiter,
  };
}

/** Everything a handler needs, built from the config. */
export interface Deps {
  config: AppConfig;
  store: DynamoJobStore;
  /** Budgets and usage: the ledger every model call draws from and every job settles with. */
  ledger: DynamoBudgetLedger;
  policies: DynamoPolicyStore;
  /** The provider's client behind the shared limiter and the one retry layer. */
  llm: LlmClient;
  provider: ProviderInfo;
  /** The Distributed Map's item lists (when the config names their bucket: the plan function). */
  items?: S3ItemStore;
}

/** What the authorizer needs: the tenants. */
export interface TenantDeps {
  tenants: DynamoTenantStore;
}

export function createTenantDeps(config: AppConfig): TenantDeps {
  return { tenants: new DynamoTenantStore(createDynamoDocumentClient(config), config.tableName) };
}

/** What the API needs: jobs, tenants, budgets, idempotency claims, and the workflow it starts and stops (no model client). */
export interface ApiDeps {
  config: AppConfig;
  store: DynamoJobStore;
  tenants: DynamoTenantStore;
  ledger: DynamoBudgetLedger;
  idempotency: DynamoIdempotencyStore;
  policies: DynamoPolicyStore;
  workflow: SfnWorkflow;
}

export function createApiDeps(config: AppConfig): ApiDeps {
  if (!config.stateMachineArn) throw new ConfigError('STATE_MACHINE_ARN', 'is required by the API');
  const doc = createDynamoDocumentClient(config);
  return {
    config,
    store: new DynamoJobStore(doc, config.tableName),
    tenants: new DynamoTenantStore(doc, config.tableName),
    ledger: new DynamoBudgetLedger(doc, config.tableName),
    idempotency: new DynamoIdempotencyStore(doc, config.tableName),
    policies: new DynamoPolicyStore(doc, config.tableName),
    workflow: new SfnWorkflow(createSfnClient(config), config.stateMachineArn),
  };
}

export async function createDeps(config: AppConfig): Promise<Deps> {
  const doc = createDynamoDocumentClient(config);
  const store = new DynamoJobStore(doc, config.tableName);
  const policies = new DynamoPolicyStore(doc, config.tableName);
  const ledger = new DynamoBudgetLedger(doc, config.tableName);
  const apiKey = await resolveApiKey(config);
  const llm = new LimitedLlm(createLlm(config, apiKey), createRateLimiter(config, apiKey, doc), {
    maxRetries: config.llm.maxRetries,
    backoffBaseMs: config.llm.backoffBaseMs,
    backoffCapMs: config.llm.backoffCapMs,
    maxWaitMs: config.provider.maxWaitMs,
  });
  return {
    config,
    store,
    policies,
    ledger,
    llm,
    provider: providerInfo(config),
    ...(config.itemsBucket ? { items: new S3ItemStore(createS3Client(config), config.itemsBucket) } : {}),
  };
}
