/**
 * The cloud settings that hold a wide job in check, read from the CDK context and checked at synth:
 * a value that is not allowed fails `cdk synth` with the context key, the value given and what is
 * allowed, before anything is deployed.
 *
 * - Reserved concurrency: the sub-agent function gets its own pool (one wide job cannot take the
 *   account's Lambda slots), and the API, the authorizer, Plan and Aggregate get a floor of their
 *   own (a wide fan-out cannot throttle them).
 * - Timeouts: Plan and Aggregate outlast one model call with its retries; the sub-agent knows its
 *   deadline (`runSubagent`) and stops before its timeout.
 */
import { Duration } from 'aws-cdk-lib';
import { DEFAULT_LLM_TIMEOUT_MS } from '#shared/config';

/** The context keys of the reserved concurrency, with their defaults. */
export const CONCURRENCY_CONTEXT = {
  subagentConcurrency: 400,
  apiConcurrency: 20,
  authorizerConcurrency: 20,
  planConcurrency: 10,
  aggregateConcurrency: 10,
} as const;

/** The context key of the account's Lambda concurrency limit (1,000 unless raised or, for new accounts, lowered). */
export const ACCOUNT_CONCURRENCY_CONTEXT = 'accountConcurrency';
/** The account's default concurrent-executions limit. */
export const DEFAULT_ACCOUNT_CONCURRENCY = 1000;
/** Lambda keeps at least this many executions unreserved in an account. */
export const UNRESERVED_MINIMUM = 100;
/** The most any one function may reserve (what a context value is checked against). */
const MAX_RESERVED = 100_000;

/** A reservation key of {@link CONCURRENCY_CONTEXT}. */
export type ConcurrencyKey = keyof typeof CONCURRENCY_CONTEXT;

/** Reserved concurrent executions per function; 0 means none reserved (the shared pool). */
export type ReservedConcurrency = Record<ConcurrencyKey, number>;

/** A context value that is not allowed: names the key, the value and what is allowed. */
export class ContextError extends Error {
  constructor(
    readonly key: string,
    value: unknown,
    readonly allowed: string,
  ) {
    super(`cdk context '${key}' = ${JSON.stringify(value)} is not allowed: ${allowed}`);
    this.name = 'ContextError';
  }
}

/** An integer within [min, max] from a context value (a number, or a string of digits from `-c`). */
export function integerContext(
  key: string,
  raw: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ContextError(key, raw, `an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * The reserved concurrency of each function from the context (defaults {@link CONCURRENCY_CONTEXT}),
 * checked against the account's limit: what the functions reserve together must leave Lambda's
 * {@link UNRESERVED_MINIMUM} unreserved executions.
 *
 * @example
 * reservedConcurrencyFromContext((k) => ({ subagentConcurrency: '800' })[k]); // { subagentConcurrency: 800, apiConcurrency: 20, … }
 */
export function reservedConcurrencyFromContext(context: (key: string) => unknown): ReservedConcurrency {
  const account = integerContext(
    ACCOUNT_CONCURRENCY_CONTEXT,
    context(ACCOUNT_CONCURRENCY_CONTEXT),
    DEFAULT_ACCOUNT_CONCURRENCY,
    UNRESERVED_MINIMUM,
    MAX_RESERVED,
  );
  const reserved = {} as ReservedConcurrency;
  for (const [key, fallback] of Object.entries(CONCURRENCY_CONTEXT) as [ConcurrencyKey, number][]) {
    reserved[key] = integerContext(key, context(key), fallback, 0, MAX_RESERVED);
  }
  const total = Object.values(reserved).reduce((a, b) => a + b, 0);
  if (total > account - UNRESERVED_MINIMUM) {
    const summary = Object.entries(reserved)
      .map(([key, value]) => `${key}=${value}`)
      .join(', ');
    throw new ContextError(
      'subagentConcurrency',
      reserved.subagentConcurrency,
      `the functions reserve ${total} executions (${summary}), but an account limit of ${account} (context '${ACCOUNT_CONCURRENCY_CONTEXT}') leaves at most ${account - UNRESERVED_MINIMUM} to reserve; lower them, or set '${ACCOUNT_CONCURRENCY_CONTEXT}' to the account's raised limit`,
    );
  }
  return reserved;
}

/** One model call at most: the client's timeout (`PARL_LLM_TIMEOUT_MS`, 120 s by default). */
export const MODEL_CALL_TIMEOUT = Duration.millis(DEFAULT_LLM_TIMEOUT_MS);

/**
 * The function timeouts. Plan (one decomposition call and its repair turn) and Aggregate (the
 * synthesizer's call, the settling) get two model calls and a minute for the table; the sub-agent
 * gets Lambda's maximum and stops {@link SUBAGENT_STOP_MARGIN_MS} before it.
 */
export const FUNCTION_TIMEOUTS = {
  plan: Duration.seconds(2 * MODEL_CALL_TIMEOUT.toSeconds() + 60),
  aggregate: Duration.seconds(2 * MODEL_CALL_TIMEOUT.toSeconds() + 60),
  subagent: Duration.seconds(900),
} as const;

/** The context key of the execution timeout, in hours (Step Functions Standard allows up to a year). */
export const EXECUTION_TIMEOUT_CONTEXT = 'executionTimeoutHours';
/** The default execution timeout: a day. */
export const DEFAULT_EXECUTION_TIMEOUT_HOURS = 24;

/**
 * The execution timeout from the context ({@link DEFAULT_EXECUTION_TIMEOUT_HOURS} by default). The
 * plan derives each job's deadline from it (`PARL_EXECUTION_TIMEOUT_SECONDS`): the sub-agents stop
 * before that deadline, so Aggregate stores the job with what it has before the execution times out.
 */
export function executionTimeoutFromContext(context: (key: string) => unknown): Duration {
  const hours = integerContext(
    EXECUTION_TIMEOUT_CONTEXT,
    context(EXECUTION_TIMEOUT_CONTEXT),
    DEFAULT_EXECUTION_TIMEOUT_HOURS,
    1,
    24 * 365,
  );
  return Duration.hours(hours);
}
