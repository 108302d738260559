/**
 * The model client built from the config: the provider's OpenAI-compatible client (no retries of
 * its own) behind the shared limiter of its key and the one retry layer ({@link LimitedLlm}).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import type { AppConfig } from '#shared/config';
import type { ProviderMetrics } from '#shared/domain/types';
import { LimitedLlm } from './limited-llm';
import { OpenAiLlm } from './openai-llm';

/** The provider's client alone: no retries of its own ({@link LimitedLlm} retries). */
export function createLlm(config: AppConfig, apiKey: string | undefined): OpenAiLlm {
  return new OpenAiLlm({
    baseUrl: config.llm.baseUrl,
    // Local OpenAI-compatible servers (Ollama, the simulator) accept any key.
    apiKey: apiKey ?? 'no-key',
    model: config.llm.model,
    timeoutMs: config.llm.timeoutMs,
  });
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
    slotsPerItem: config.provider.slotsPerItem,
  });
}

/** The model client every handler uses: the provider's client behind the limiter and the retries. */
export function createLlmClient(
  config: AppConfig,
  apiKey: string | undefined,
  client: DynamoDBDocumentClient,
  limiter: DynamoRateLimiter | undefined = createRateLimiter(config, apiKey, client),
): LimitedLlm {
  return new LimitedLlm(createLlm(config, apiKey), limiter, {
    maxRetries: config.llm.maxRetries,
    backoffBaseMs: config.llm.backoffBaseMs,
    backoffCapMs: config.llm.backoffCapMs,
    maxWaitMs: config.provider.maxWaitMs,
  });
}

/** The provider part of a job's metrics, without the per-job counts (those come from the steps). */
export type ProviderInfo = Omit<
  ProviderMetrics,
  'calls' | 'retries' | 'rateLimited' | 'waitedMs' | 'limiterMs'
>;

/** The provider, its model and limits as a job's metrics report them. */
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
