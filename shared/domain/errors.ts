/**
 * Errors of PARL Swarm. One base class; `name` is set on every subclass because Step Functions
 * matches Catch rules on the error name a Lambda throws. Model calls are retried at the client only.
 * Every class takes `ErrorOptions` (the `cause` is passed through) and keeps what a caller needs
 * (a field, a reason, a job id, amounts) in typed fields: edges map them with `instanceof` and read
 * those fields, never the message.
 */
export class ParlError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ParlError';
  }
}

/** A failure that may pass: 429, 5xx, timeouts, lost connections. The client retries it (one layer). */
export class TransientError extends ParlError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/**
 * The provider answered 429 (`rate_limit_reached_error`). Retried at the client only, after the
 * shared cooldown; `retryAfterMs` is the provider's Retry-After when it sent one.
 */
export class RateLimitedError extends TransientError {
  readonly retryAfterMs: number | undefined;
  readonly type: string | undefined;
  constructor(message: string, details: { retryAfterMs?: number; type?: string }, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RateLimitedError';
    this.retryAfterMs = details.retryAfterMs;
    this.type = details.type;
  }
}

/**
 * A sub-agent reached its deadline (its Lambda's remaining time less a margin, or the job's
 * deadline): the call in flight is aborted, or the next one not started. Never retried: the
 * sub-agent records what it has and stops.
 */
export class DeadlineReachedError extends ParlError {
  /** The deadline, in milliseconds since the epoch. */
  readonly deadlineAt: number;
  constructor(message: string, deadlineAt: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DeadlineReachedError';
    this.deadlineAt = deadlineAt;
  }
}

/** The shared limiter did not grant a call within the configured maximum wait. */
export class LimiterTimeoutError extends TransientError {
  /** The limiter's last reason to wait (e.g. `rpm`, `tpm`, `concurrency`). */
  readonly reason: string;
  constructor(message: string, reason: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LimiterTimeoutError';
    this.reason = reason;
  }
}

/**
 * The provider kept failing and its circuit is open: the call is not made. The client retries
 * after its backoff (counting toward its retries); once the open time passes one probe goes through.
 */
export class CircuitOpenError extends TransientError {
  readonly reopensInMs: number;
  constructor(message: string, reopensInMs: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CircuitOpenError';
    this.reopensInMs = reopensInMs;
  }
}

/** The provider refused the request for good (400, 401, 403 insufficient balance, 404). Never retried. */
export class ProviderRejectedError extends ParlError {
  readonly status: number | undefined;
  readonly type: string | undefined;
  constructor(message: string, details: { status?: number; type?: string }, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProviderRejectedError';
    this.status = details.status;
    this.type = details.type;
  }
}

/**
 * A request or input that is not valid: `field` names what is wrong, `reason` says why; the
 * message is `<field>: <reason>`.
 */
export class RequestValidationError extends ParlError {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string, options?: ErrorOptions) {
    super(`${field}: ${reason}`, options);
    this.name = 'RequestValidationError';
    this.field = field;
    this.reason = reason;
  }
}

/** The orchestrator could not produce a valid plan. */
export class PlanError extends ParlError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PlanError';
  }
}

/** A record that does not exist (or belongs to another tenant, which looks the same). */
export class NotFoundError extends ParlError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NotFoundError';
  }
}

/**
 * A required environment variable is missing or malformed: `variable` names it, `reason` says
 * why; the message is `<variable>: <reason>`.
 */
export class ConfigError extends ParlError {
  readonly variable: string;
  readonly reason: string;
  constructor(variable: string, reason: string, options?: ErrorOptions) {
    super(`${variable}: ${reason}`, options);
    this.name = 'ConfigError';
    this.variable = variable;
    this.reason = reason;
  }
}

/** A tenant's budget cannot cover what a job would cost (HTTP 402); nothing was started or charged. */
export class BudgetExceededError extends ParlError {
  readonly requiredUsd: number;
  readonly availableUsd: number;
  constructor(
    message: string,
    details: { requiredUsd: number; availableUsd: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BudgetExceededError';
    this.requiredUsd = details.requiredUsd;
    this.availableUsd = details.availableUsd;
  }
}

/** An idempotency key reused with a different request body (HTTP 409). */
export class IdempotencyConflictError extends ParlError {
  /** The job the key already stands for. */
  readonly jobId: string;
  constructor(message: string, jobId: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IdempotencyConflictError';
    this.jobId = jobId;
  }
}

/** An operation that does not fit the record's state, e.g. cancelling a finished job (HTTP 409). */
export class StateConflictError extends ParlError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StateConflictError';
  }
}

/** A model call of a job whose calls were stopped (cancelled, timed out): it is not made. */
export class CallsStoppedError extends StateConflictError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CallsStoppedError';
  }
}

/** A missing, malformed, unknown or revoked API key; `revoked` separates 403 from 401. */
export class AuthError extends ParlError {
  readonly revoked: boolean;
  constructor(message: string, revoked = false, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuthError';
    this.revoked = revoked;
  }
}

/** The per-tenant limits a request can run into (see `TenantLimits`). */
export type TenantLimitName = 'requestsPerSecond' | 'maxConcurrentJobs';

/**
 * A tenant reached one of its own limits (requests a second, jobs at once): nothing was done; try
 * again after `retryAfterSeconds`. The API answers 429 with Retry-After and the limit's name.
 */
export class TenantLimitError extends ParlError {
  readonly limit: TenantLimitName;
  /** The limit's value for this tenant. */
  readonly value: number;
  readonly retryAfterSeconds: number;
  constructor(
    message: string,
    details: { limit: TenantLimitName; value: number; retryAfterSeconds: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TenantLimitError';
    this.limit = details.limit;
    this.value = details.value;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}
