import { type AwsPrices, US_EAST_1_PRICES } from '#shared/domain/aws-cost';
import { ConfigError } from '#shared/domain/errors';
import { DEFAULT_MAX_SUBAGENTS_CAP, MAX_SUBAGENTS_PER_JOB } from '#shared/domain/fan-out-limits';
import {
  type LimiterPolicy,
  MOONSHOT_TIERS,
  PROVIDER_BASE_URLS,
  PROVIDER_DEFAULT_LIMITS,
  PROVIDER_NAMES,
  type ProviderName,
} from '#shared/domain/provider-limits';
import { DEFAULT_TOGGLE, type ToggleSettings } from '#shared/domain/toggle';

/** Everything the handlers read from their environment, checked once. */
export interface AppConfig {
  tableName: string;
  region: string;
  /** Set for the local stack (dynalite); unset in the cloud. */
  dynamodbEndpoint: string | undefined;
  llm: {
    baseUrl: string;
    apiKey: string | undefined;
    /** In the cloud the key lives in Secrets Manager. */
    apiKeySecretArn: string | undefined;
    model: string;
    timeoutMs: number;
    /**
     * Retries of one model call after a 5xx, timeout or malformed body: the one retry layer (the
     * SDK's own retries are off and Step Functions does not retry model failures). 429s are retried
     * separately, paced by the shared limiter, within `provider.maxWaitMs`.
     */
    maxRetries: number;
    /** Capped exponential backoff with full jitter between retries. */
    backoffBaseMs: number;
    backoffCapMs: number;
  };
  /** The provider and its shared limits (one limiter per provider key). */
  provider: ProviderConfig;
  /** Model calls one sub-agent may make for one subtask. */
  subagentStepBudget: number;
  /** Default output-token budget B of a sub-agent's model call. */
  maxOutputTokens: number;
  /** Upper bound of `maxSubagents` a request may ask for. */
  maxSubagentsCap: number;
  /** Default `maxSubagents` when a request does not say. */
  defaultMaxSubagents: number;
  /** The job workflow (the api and batch functions start it); unset where nothing starts jobs. */
  stateMachineArn: string | undefined;
  /** Set for the local stack (the embedded Step Functions endpoint); unset in the cloud. */
  sfnEndpoint: string | undefined;
  /** Set for the local stack (fauxqs S3: uploads and item lists live there); unset in the cloud. */
  s3Endpoint: string | undefined;
  /** The bucket of the Distributed Map's item lists (`ITEMS_BUCKET`, set by CDK on the plan function). */
  itemsBucket: string | undefined;
  /** Largest request body the API accepts. */
  apiMaxBodyBytes: number;
  /** The one browser origin the API answers with CORS headers (the dashboard site); unset: none. */
  corsOrigin: string | undefined;
  /** The fan-out policy: reward annealing (λ1, λ2 → 0 over this many jobs; 0 = off) and its seed. */
  policy: { annealJobs: number; seed: number };
  /** When TOGGLE lowers the output-token budget. */
  toggle: ToggleSettings;
  /** A job whose r_finish is below this is flagged as spurious parallelism. */
  spuriousFinishThreshold: number;
  /** What bounds a job in the cloud (set by CDK; unset locally). */
  cloud: CloudBounds;
  /** AWS prices of the jobs' cost on AWS (`PARL_AWS_PRICES` over the public us-east-1 prices). */
  awsPrices: AwsPrices;
  /**
   * How long a reservation may stay open without a live job before the sweeper closes it
   * (`PARL_RESERVATION_GRACE_SECONDS`, default 600).
   */
  reservationGraceMs: number;
}

/** The cloud's bounds on a job, which the plan keeps within. */
export interface CloudBounds {
  /** The sub-agent function's reserved concurrency (`PARL_SUBAGENT_CONCURRENCY`): no Map runs wider. */
  subagentConcurrency: number | undefined;
  /** The state machine's execution timeout (`PARL_EXECUTION_TIMEOUT_SECONDS`): the plan's deadline stays inside it. */
  executionTimeoutMs: number | undefined;
}

/** The provider, its limits and the limiter's behaviour. */
export interface ProviderConfig {
  name: ProviderName;
  /** The tier preset the limits came from, when one was named. */
  tier: string | undefined;
  /** false (PARL_PROVIDER_LIMITER=off): no shared limiter, client retries only. */
  limiter: boolean;
  policy: LimiterPolicy;
  /** Longest a call waits for the limiter and for 429 retries before it fails. */
  maxWaitMs: number;
  /** First pause of a caller waiting for a slot (doubling up to 2 s, jittered; a release in the process wakes it). */
  pollMs: number;
  /**
   * Concurrency slots to a limiter item (`PARL_PROVIDER_SLOTS_PER_ITEM`, 1–25, default 1): a
   * process running many callers claims the slots of one item in one write; a Lambda runs one.
   */
  slotsPerItem: number;
  /**
   * The most sub-agent leases a plan takes for its Map's first calls (`PARL_PLAN_LEASES`, default 0:
   * every sub-agent takes its own): taken together by one process before the Map starts, each
   * goes to one sub-agent in its item, whose first call then needs no limiter round trip.
   */
  planLeases: number;
}

/** The most slots one limiter item holds (its conditions stay within DynamoDB's 4 KB expressions). */
export const MAX_SLOTS_PER_ITEM = 25;

export const DEFAULT_MOONSHOT_BASE_URL = 'https://api.moonshot.ai/v1';
export const DEFAULT_MOONSHOT_MODEL = 'kimi-k2.5';
/** The longest one model call may take (`PARL_LLM_TIMEOUT_MS`). */
export const DEFAULT_LLM_TIMEOUT_MS = 120_000;

type Env = Record<string, string | undefined>;

const required = (env: Env, name: string): string => {
  const v = env[name];
  if (v === undefined || v.trim() === '') throw new ConfigError(name, 'is required but not set');
  return v;
};

const optional = (env: Env, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
};

/** PARL_CORS_ORIGIN: one origin (`https://host[:port]`, or http on loopback), no path, no wildcard. */
const corsOrigin = (env: Env): string | undefined => {
  const raw = optional(env, 'PARL_CORS_ORIGIN');
  if (raw === undefined) return undefined;
  if (!/^(https:\/\/[a-z0-9.-]+|http:\/\/(127\.0\.0\.1|localhost))(:\d{1,5})?$/.test(raw)) {
    throw new ConfigError(
      'PARL_CORS_ORIGIN',
      `must be one origin such as https://d123.cloudfront.net, got "${raw}"`,
    );
  }
  return raw;
};

const positiveInt = (env: Env, name: string, fallback: number): number => {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(name, `must be a positive integer, got "${raw}"`);
  return n;
};

const slotsPerItem = (env: Env): number => {
  const n = positiveInt(env, 'PARL_PROVIDER_SLOTS_PER_ITEM', 1);
  if (n > MAX_SLOTS_PER_ITEM)
    throw new ConfigError(
      'PARL_PROVIDER_SLOTS_PER_ITEM',
      `must be at most ${MAX_SLOTS_PER_ITEM}, got "${n}"`,
    );
  return n;
};

const nonNegativeInt = (env: Env, name: string, fallback: number): number => {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(name, `must be a non-negative integer, got "${raw}"`);
  return n;
};

const url = (env: Env, name: string, fallback: string): string => {
  const raw = optional(env, name) ?? fallback;
  try {
    new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
};

const fraction = (env: Env, name: string, fallback: number, max = 1): number => {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max)
    throw new ConfigError(name, `must be a number from 0 to ${max}, got "${raw}"`);
  return n;
};

/** The provider's limits: explicit variables over the tier preset over the provider's defaults. */
function providerConfig(env: Env, timeoutMs: number): ProviderConfig {
  const rawName = optional(env, 'PARL_PROVIDER') ?? 'moonshot';
  if (!PROVIDER_NAMES.includes(rawName as ProviderName)) {
    throw new ConfigError('PARL_PROVIDER', `must be one of ${PROVIDER_NAMES.join(', ')}, got "${rawName}"`);
  }
  const name = rawName as ProviderName;
  const tier = optional(env, 'PARL_PROVIDER_TIER');
  if (tier !== undefined && !MOONSHOT_TIERS[tier]) {
    throw new ConfigError(
      'PARL_PROVIDER_TIER',
      `must be one of ${Object.keys(MOONSHOT_TIERS).join(', ')}, got "${tier}"`,
    );
  }
  const base = tier ? MOONSHOT_TIERS[tier]! : PROVIDER_DEFAULT_LIMITS[name];
  const limiterRaw = optional(env, 'PARL_PROVIDER_LIMITER') ?? 'on';
  if (limiterRaw !== 'on' && limiterRaw !== 'off')
    throw new ConfigError('PARL_PROVIDER_LIMITER', `must be "on" or "off", got "${limiterRaw}"`);
  const windowMs = positiveInt(env, 'PARL_PROVIDER_WINDOW_MS', 60_000);
  const optionalLimit = (variable: string, fallback: number | undefined) =>
    optional(env, variable) === undefined ? fallback : positiveInt(env, variable, 1);
  return {
    name,
    tier,
    limiter: limiterRaw === 'on',
    policy: {
      limits: {
        maxConcurrency: positiveInt(env, 'PARL_PROVIDER_MAX_CONCURRENCY', base.maxConcurrency),
        rpm: optionalLimit('PARL_PROVIDER_RPM', base.rpm),
        tpm: optionalLimit('PARL_PROVIDER_TPM', base.tpm),
        windowMs,
      },
      orchestratorShare: fraction(env, 'PARL_PROVIDER_ORCHESTRATOR_SHARE', 0.1, 0.5),
      // A lease outlives the longest call it covers; a holder that died frees it then.
      leaseMs: positiveInt(env, 'PARL_PROVIDER_LEASE_MS', timeoutMs + 30_000),
      cooldownMs: positiveInt(env, 'PARL_PROVIDER_COOLDOWN_MS', Math.max(1, Math.round(windowMs / 60))),
      breakerFailures: positiveInt(env, 'PARL_PROVIDER_BREAKER_FAILURES', 5),
      breakerOpenMs: positiveInt(env, 'PARL_PROVIDER_BREAKER_OPEN_MS', Math.max(1, Math.round(windowMs / 2))),
    },
    maxWaitMs: positiveInt(env, 'PARL_PROVIDER_MAX_WAIT_MS', 600_000),
    pollMs: positiveInt(env, 'PARL_PROVIDER_POLL_MS', 250),
    slotsPerItem: slotsPerItem(env),
    planLeases: nonNegativeInt(env, 'PARL_PLAN_LEASES', 0),
  };
}

/**
 * Reads and checks the environment once; fails fast with the variable's name.
 *
 * @example
 * const config = loadConfig({ TABLE_NAME: 'Data', AWS_REGION: 'eu-central-1' });
 */
export function loadConfig(env: Env = process.env): AppConfig {
  const maxSubagentsCap = positiveInt(env, 'PARL_MAX_SUBAGENTS_CAP', DEFAULT_MAX_SUBAGENTS_CAP);
  if (maxSubagentsCap > MAX_SUBAGENTS_PER_JOB) {
    throw new ConfigError(
      'PARL_MAX_SUBAGENTS_CAP',
      `must not exceed ${MAX_SUBAGENTS_PER_JOB} (sub-agents a job may have)`,
    );
  }
  const defaultMaxSubagents = positiveInt(env, 'PARL_DEFAULT_MAX_SUBAGENTS', Math.min(100, maxSubagentsCap));
  if (defaultMaxSubagents > maxSubagentsCap) {
    throw new ConfigError(
      'PARL_DEFAULT_MAX_SUBAGENTS',
      `must not exceed PARL_MAX_SUBAGENTS_CAP (${maxSubagentsCap})`,
    );
  }
  const timeoutMs = positiveInt(env, 'PARL_LLM_TIMEOUT_MS', DEFAULT_LLM_TIMEOUT_MS);
  const provider = providerConfig(env, timeoutMs);
  const defaultBaseUrl = PROVIDER_BASE_URLS[provider.name];
  if (defaultBaseUrl === undefined && optional(env, 'MOONSHOT_BASE_URL') === undefined) {
    throw new ConfigError('MOONSHOT_BASE_URL', `is required with PARL_PROVIDER=${provider.name}`);
  }
  return {
    tableName: required(env, 'TABLE_NAME'),
    region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION') ?? 'us-east-1',
    dynamodbEndpoint: optional(env, 'DYNAMODB_ENDPOINT'),
    llm: {
      baseUrl: url(env, 'MOONSHOT_BASE_URL', defaultBaseUrl ?? DEFAULT_MOONSHOT_BASE_URL),
      apiKey: optional(env, 'MOONSHOT_API_KEY'),
      apiKeySecretArn: optional(env, 'MOONSHOT_API_KEY_SECRET_ARN'),
      model: optional(env, 'MOONSHOT_MODEL') ?? DEFAULT_MOONSHOT_MODEL,
      timeoutMs,
      maxRetries: nonNegativeInt(env, 'PARL_LLM_MAX_RETRIES', 4),
      backoffBaseMs: positiveInt(env, 'PARL_LLM_BACKOFF_BASE_MS', 500),
      backoffCapMs: positiveInt(env, 'PARL_LLM_BACKOFF_CAP_MS', 20_000),
    },
    provider,
    subagentStepBudget: positiveInt(env, 'PARL_SUBAGENT_STEP_BUDGET', 6),
    maxOutputTokens: positiveInt(env, 'PARL_MAX_OUTPUT_TOKENS', 1000),
    maxSubagentsCap,
    defaultMaxSubagents,
    policy: {
      annealJobs: nonNegativeInt(env, 'PARL_ANNEAL_JOBS', 0),
      seed: nonNegativeInt(env, 'PARL_POLICY_SEED', 1),
    },
    toggle: {
      factor: fraction(env, 'PARL_TOGGLE_FACTOR', DEFAULT_TOGGLE.factor),
      window: positiveInt(env, 'PARL_TOGGLE_WINDOW', DEFAULT_TOGGLE.window),
      minPerf: fraction(env, 'PARL_TOGGLE_MIN_PERF', DEFAULT_TOGGLE.minPerf),
      maxSpread: fraction(env, 'PARL_TOGGLE_MAX_SPREAD', DEFAULT_TOGGLE.maxSpread),
    },
    spuriousFinishThreshold: fraction(env, 'PARL_SPURIOUS_FINISH_THRESHOLD', 0.8),
    stateMachineArn: optional(env, 'STATE_MACHINE_ARN'),
    sfnEndpoint: optional(env, 'SFN_ENDPOINT'),
    s3Endpoint: optional(env, 'S3_ENDPOINT'),
    itemsBucket: optional(env, 'ITEMS_BUCKET'),
    apiMaxBodyBytes: positiveInt(env, 'PARL_API_MAX_BODY_BYTES', 1_048_576),
    cloud: cloudBounds(env),
    awsPrices: awsPrices(env),
    corsOrigin: corsOrigin(env),
    reservationGraceMs: positiveInt(env, 'PARL_RESERVATION_GRACE_SECONDS', 600) * 1000,
  };
}

function cloudBounds(env: Env): CloudBounds {
  const seconds = optional(env, 'PARL_EXECUTION_TIMEOUT_SECONDS');
  const concurrency = optional(env, 'PARL_SUBAGENT_CONCURRENCY');
  return {
    subagentConcurrency:
      concurrency === undefined ? undefined : positiveInt(env, 'PARL_SUBAGENT_CONCURRENCY', 1),
    executionTimeoutMs:
      seconds === undefined ? undefined : positiveInt(env, 'PARL_EXECUTION_TIMEOUT_SECONDS', 1) * 1000,
  };
}

/**
 * `PARL_AWS_PRICES`: a JSON object of USD per unit over {@link US_EAST_1_PRICES}, e.g.
 * `{"lambdaGbSecond":0.0000166667}` (x86) or another region's prices.
 */
function awsPrices(env: Env): AwsPrices {
  const raw = optional(env, 'PARL_AWS_PRICES');
  if (raw === undefined) return US_EAST_1_PRICES;
  const known = Object.keys(US_EAST_1_PRICES).join(', ');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('PARL_AWS_PRICES', `must be a JSON object of prices (${known}), got "${raw}"`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('PARL_AWS_PRICES', `must be a JSON object of prices (${known})`);
  }
  const prices: AwsPrices = { ...US_EAST_1_PRICES };
  for (const [key, value] of Object.entries(parsed)) {
    if (!(key in prices)) throw new ConfigError('PARL_AWS_PRICES', `has no price "${key}"; known: ${known}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ConfigError(
        'PARL_AWS_PRICES',
        `${key} must be a non-negative number of USD, got ${JSON.stringify(value)}`,
      );
    }
    prices[key as keyof AwsPrices] = value;
  }
  return prices;
}
