import { ConfigError } from '#shared/domain/errors';
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
    /** Retries inside one model call (the SDK's backoff); Step Functions retries the Lambda on top. */
    maxRetries: number;
  };
  /** Model calls one sub-agent may make for one subtask. */
  subagentStepBudget: number;
  /** Default output-token budget B of a sub-agent's model call. */
  maxOutputTokens: number;
  /** Upper bound of `maxSubagents` a request may ask for. */
  maxSubagentsCap: number;
  /** Default `maxSubagents` when a request does not say. */
  defaultMaxSubagents: number;
  /** The fan-out policy: reward annealing (λ1, λ2 → 0 over this many jobs; 0 = off) and its seed. */
  policy: { annealJobs: number; seed: number };
  /** When TOGGLE lowers the output-token budget. */
  toggle: ToggleSettings;
  /** A job whose r_finish is below this is flagged as spurious parallelism. */
  spuriousFinishThreshold: number;
}

export const DEFAULT_MOONSHOT_BASE_URL = 'https://api.moonshot.ai/v1';
export const DEFAULT_MOONSHOT_MODEL = 'kimi-k2.5';

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

const positiveInt = (env: Env, name: string, fallback: number): number => {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(name, `must be a positive integer, got "${raw}"`);
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

const fraction = (env: Env, name: string, fallback: number): number => {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new ConfigError(name, `must be a number from 0 to 1, got "${raw}"`);
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

/**
 * Reads and checks the environment once; fails fast with the variable's name.
 *
 * @example
 * const config = loadConfig({ TABLE_NAME: 'Data', AWS_REGION: 'eu-central-1' });
 */
export function loadConfig(env: Env = process.env): AppConfig {
  const maxSubagentsCap = positiveInt(env, 'PARL_MAX_SUBAGENTS_CAP', 1000);
  const defaultMaxSubagents = positiveInt(env, 'PARL_DEFAULT_MAX_SUBAGENTS', Math.min(100, maxSubagentsCap));
  if (defaultMaxSubagents > maxSubagentsCap) {
    throw new ConfigError(
      'PARL_DEFAULT_MAX_SUBAGENTS',
      `must not exceed PARL_MAX_SUBAGENTS_CAP (${maxSubagentsCap})`,
    );
  }
  return {
    tableName: required(env, 'TABLE_NAME'),
    region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION') ?? 'us-east-1',
    dynamodbEndpoint: optional(env, 'DYNAMODB_ENDPOINT'),
    llm: {
      baseUrl: url(env, 'MOONSHOT_BASE_URL', DEFAULT_MOONSHOT_BASE_URL),
      apiKey: optional(env, 'MOONSHOT_API_KEY'),
      apiKeySecretArn: optional(env, 'MOONSHOT_API_KEY_SECRET_ARN'),
      model: optional(env, 'MOONSHOT_MODEL') ?? DEFAULT_MOONSHOT_MODEL,
      timeoutMs: positiveInt(env, 'PARL_LLM_TIMEOUT_MS', 120_000),
      maxRetries: nonNegativeInt(env, 'PARL_LLM_MAX_RETRIES', 2),
    },
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
  };
}
