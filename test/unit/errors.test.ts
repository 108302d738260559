import { describe, expect, it } from 'vitest';
import { UsageError } from '#cli/flags';
import { ItemReaderFailedError } from '#local/item-reader';
import { PoisonRecordError, SubmissionInProgressError } from '#shared/domain/batch';
import {
  AuthError,
  BudgetExceededError,
  CallsStoppedError,
  CircuitOpenError,
  ConfigError,
  DeadlineReachedError,
  IdempotencyConflictError,
  LimiterTimeoutError,
  NotFoundError,
  ParlError,
  PlanError,
  ProviderRejectedError,
  RateLimitedError,
  RequestValidationError,
  StateConflictError,
  TenantLimitError,
  TransientError,
} from '#shared/domain/errors';
import { parseJobRequest } from '#shared/domain/request';
import { type BatchRecordDeps, processBatchRecord } from '#shared/use-cases/process-batch-record';
import { fakeAcceptDeps } from './accept-fakes';

const cause = new Error('the underlying failure');
const options = { cause };

/**
 * Every error class, built with a cause (inside the test, so a mutation test sees it covered), with its
 * expected name, message and typed fields.
 */
const cases: [string, () => ParlError, Record<string, unknown>][] = [
  ['ParlError', () => new ParlError('m', options), { message: 'm' }],
  ['TransientError', () => new TransientError('m', options), { message: 'm' }],
  [
    'RateLimitedError',
    () => new RateLimitedError('m', { retryAfterMs: 1500, type: 'rate_limit_reached_error' }, options),
    { retryAfterMs: 1500, type: 'rate_limit_reached_error' },
  ],
  [
    'DeadlineReachedError',
    () => new DeadlineReachedError('m', 1_700_000_000_000, options),
    { deadlineAt: 1_700_000_000_000 },
  ],
  ['LimiterTimeoutError', () => new LimiterTimeoutError('m', 'rpm', options), { reason: 'rpm' }],
  ['CircuitOpenError', () => new CircuitOpenError('m', 2500, options), { reopensInMs: 2500 }],
  [
    'ProviderRejectedError',
    () => new ProviderRejectedError('m', { status: 401, type: 'invalid_authentication_error' }, options),
    { status: 401, type: 'invalid_authentication_error' },
  ],
  [
    'RequestValidationError',
    () => new RequestValidationError('subtasks[0].id', 'duplicate id "a"', options),
    { field: 'subtasks[0].id', reason: 'duplicate id "a"', message: 'subtasks[0].id: duplicate id "a"' },
  ],
  ['PlanError', () => new PlanError('m', options), { message: 'm' }],
  ['NotFoundError', () => new NotFoundError('m', options), { message: 'm' }],
  [
    'ConfigError',
    () => new ConfigError('PARL_TABLE', 'is required', options),
    { variable: 'PARL_TABLE', reason: 'is required', message: 'PARL_TABLE: is required' },
  ],
  [
    'BudgetExceededError',
    () => new BudgetExceededError('m', { requiredUsd: 2, availableUsd: 1 }, options),
    { requiredUsd: 2, availableUsd: 1 },
  ],
  ['IdempotencyConflictError', () => new IdempotencyConflictError('m', 'job-1', options), { jobId: 'job-1' }],
  ['StateConflictError', () => new StateConflictError('m', options), { message: 'm' }],
  ['CallsStoppedError', () => new CallsStoppedError('m', options), { message: 'm' }],
  ['AuthError', () => new AuthError('m', true, options), { revoked: true }],
  [
    'TenantLimitError',
    () => new TenantLimitError('m', { limit: 'maxConcurrentJobs', value: 2, retryAfterSeconds: 10 }, options),
    { limit: 'maxConcurrentJobs', value: 2, retryAfterSeconds: 10 },
  ],
  [
    'PoisonRecordError',
    () => new PoisonRecordError('request.task', 'must not be empty', options),
    { field: 'request.task', reason: 'must not be empty', message: 'request.task: must not be empty' },
  ],
  ['SubmissionInProgressError', () => new SubmissionInProgressError('job-1', options), { jobId: 'job-1' }],
  [
    'UsageError',
    () => new UsageError('--seed must be an integer', options),
    { message: '--seed must be an integer' },
  ],
  ['States.ItemReaderFailed', () => new ItemReaderFailedError('m', options), { message: 'm' }],
];

describe('errors', () => {
  it.each(cases)(
    '%s sets its name, passes the cause through and sets its typed fields',
    (name, build, fields) => {
      const error = build();
      expect(error).toBeInstanceOf(ParlError);
      expect(error.name).toBe(name);
      expect(error.cause).toBe(cause);
      expect(error).toMatchObject(fields);
    },
  );

  it('keeps the families apart for instanceof at the edges', () => {
    expect(new RateLimitedError('m', {})).toBeInstanceOf(TransientError);
    expect(new SubmissionInProgressError('j')).toBeInstanceOf(TransientError);
    expect(new ProviderRejectedError('m', {})).not.toBeInstanceOf(TransientError);
    expect(new CallsStoppedError('m')).toBeInstanceOf(StateConflictError);
    expect(new AuthError('m').revoked).toBe(false);
  });

  it('gives the reason of an invalid request without the field, as a validation error carries it', () => {
    const thrown = (() => {
      try {
        parseJobRequest({ task: 'x', maxSubagents: 0 }, { maxSubagentsCap: 10 });
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(RequestValidationError);
    const error = thrown as RequestValidationError;
    expect(error.message).toBe(`${error.field}: ${error.reason}`);
    expect(error.reason).not.toContain('maxSubagents');
  });

  it('carries a request field and its reason into a poison record, with the validation error as cause', async () => {
    const deps: BatchRecordDeps = {
      ...fakeAcceptDeps().deps,
      objects: { getText: () => Promise.reject(new NotFoundError('none')) },
    };
    const body = JSON.stringify({ tenantId: 'acme', request: { task: 'x', mode: 'fast' } });

    const error = await processBatchRecord(deps, { messageId: 'm1', body }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PoisonRecordError);
    const poison = error as PoisonRecordError;
    expect(poison.field).toBe('request.mode');
    expect(poison.cause).toBeInstanceOf(RequestValidationError);
    expect(poison.reason).toBe((poison.cause as RequestValidationError).reason);
    expect(poison.message).toBe(`request.mode: ${poison.reason}`);
  });
});
