import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import { HttpError } from '@middy/util';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import {
  AuthError,
  BudgetExceededError,
  IdempotencyConflictError,
  NotFoundError,
  RequestValidationError,
  StateConflictError,
  TenantLimitError,
} from '#shared/domain/errors';

/** The JSON error body of every failed request. */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function errorResponse(
  statusCode: number,
  code: string,
  message: string,
  details?: Record<string, unknown>,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  const body: ApiErrorBody = { error: { code, message, ...(details ? { details } : {}) } };
  return json(statusCode, body, headers);
}

/** A header's value, whatever its case. */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (k.toLowerCase() === wanted && v !== undefined) return v;
  }
  return undefined;
}

/** Maps an error to its HTTP answer: 4xx for what the caller can fix, 500 (without details) for the rest. */
export function toHttpError(error: unknown, requestId: string): APIGatewayProxyResult {
  if (error instanceof RequestValidationError) {
    return errorResponse(400, 'invalid_request', error.message, { field: error.field });
  }
  if (error instanceof AuthError) {
    return error.revoked
      ? errorResponse(403, 'forbidden', error.message)
      : errorResponse(401, 'unauthorized', error.message);
  }
  if (error instanceof NotFoundError) return errorResponse(404, 'not_found', error.message);
  if (error instanceof BudgetExceededError) {
    return errorResponse(402, 'budget_exceeded', error.message, {
      requiredUsd: error.requiredUsd,
      availableUsd: error.availableUsd,
    });
  }
  if (error instanceof IdempotencyConflictError) {
    return errorResponse(409, 'idempotency_conflict', error.message, { jobId: error.jobId });
  }
  if (error instanceof StateConflictError) return errorResponse(409, 'conflict', error.message);
  if (error instanceof TenantLimitError) {
    return errorResponse(
      429,
      'limit_exceeded',
      error.message,
      { limit: error.limit, value: error.value, retryAfterSeconds: error.retryAfterSeconds },
      { 'retry-after': String(error.retryAfterSeconds) },
    );
  }
  // The router's own refusals (@middy/http-router throws middy's HttpError).
  if (error instanceof HttpError && error.statusCode === 404) {
    return errorResponse(404, 'route_not_found', 'no such route');
  }
  if (error instanceof HttpError && error.statusCode === 405) {
    return errorResponse(405, 'method_not_allowed', 'method not allowed on this route');
  }
  return errorResponse(500, 'internal', `internal error (request ${requestId}); nothing was changed twice`);
}

/**
 * Turns every thrown error into the JSON error body (never a stack trace) and logs the unexpected ones.
 */
export const httpErrors = (opts: {
  logger: Logger;
}): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => {
  const httpErrorsOnError: MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult>['onError'] = (
    request,
  ) => {
    const requestId = request.context?.awsRequestId ?? 'unknown';
    const response = toHttpError(request.error, requestId);
    if (response.statusCode >= 500) {
      opts.logger.error('request failed', { error: request.error as Error, requestId });
    }
    request.response = response;
  };
  return { onError: httpErrorsOnError };
};

/**
 * CORS for the one origin the deployment allows (the dashboard site; `config.corsOrigin`): its
 * answers, errors included, carry `Access-Control-Allow-Origin` for that origin only, and none
 * without one. Registered before {@link httpErrors}, so it runs after it on errors. The preflight
 * (OPTIONS) is API Gateway's. Not @middy/http-cors: the origin comes from the lazily loaded config.
 */
export const corsForOrigin = (
  origin: () => Promise<string | undefined>,
): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => {
  const addCorsHeaders = async (request: { response?: APIGatewayProxyResult | null }) => {
    const allowed = await origin().catch(() => undefined);
    if (!allowed || !request.response) return;
    request.response.headers = {
      ...request.response.headers,
      'access-control-allow-origin': allowed,
      vary: 'Origin',
    };
  };
  return { after: addCorsHeaders, onError: addCorsHeaders };
};
