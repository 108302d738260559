import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpRouterHandler, { type Route } from '@middy/http-router';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { createTelemetry, observe, type Telemetry } from '#shared/adapters/telemetry';
import { API_ROUTES } from '#shared/domain/api-routes';
import { AuthError, RequestValidationError } from '#shared/domain/errors';
import { TASK_CLASS_PATTERN, TASK_CLASS_RULE } from '#shared/domain/request';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import type { JobRecord } from '#shared/ports/job-store';
import { acceptJob } from '#shared/use-cases/accept-job';
import { cancelJob, type JobProgress, jobProgress, requireJob } from '#shared/use-cases/jobs';
import { getPolicies } from '#shared/use-cases/policy';
import { admitRequest } from '#shared/use-cases/tenant-limits';
import { type ApiDeps, apiDeps, fromEnvironment } from '#shared/wiring';
import { corsForOrigin, header, httpErrors, json } from './http';
import { openApiDocument } from './openapi';

type Event = APIGatewayProxyEvent;
type Result = APIGatewayProxyResult;
type RouteHandler = (event: Event, deps: ApiDeps) => Promise<Result>;

/** The tenant the authorizer resolved; a tenant id anywhere else in the request is ignored. */
function tenantOf(event: Event): string {
  const tenantId = (event.requestContext?.authorizer as { tenantId?: unknown } | null | undefined)?.tenantId;
  if (typeof tenantId !== 'string' || tenantId === '') throw new AuthError('no authenticated tenant');
  return tenantId;
}

/** The tenant's requests a second, as the authorizer put it in the context (its own, or the default). */
function requestsPerSecondOf(event: Event): number | undefined {
  const raw = (event.requestContext?.authorizer as { requestsPerSecond?: unknown } | null | undefined)
    ?.requestsPerSecond;
  const n = Number(raw);
  return raw !== undefined && Number.isInteger(n) && n > 0 ? n : undefined;
}

function jobIdOf(event: Event): string {
  const id = event.pathParameters?.id ?? '';
  // Not a job id of ours: it cannot exist (and must not reach a key).
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new RequestValidationError('id', 'is not a job id');
  return id;
}

function limitOf(event: Event, fallback: number, max: number): number {
  const raw = event.queryStringParameters?.limit;
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new RequestValidationError('limit', `must be an integer from 1 to ${max}`);
  }
  return n;
}

const cursorOf = (event: Event): { cursor?: string } => {
  const cursor = event.queryStringParameters?.cursor;
  return cursor ? { cursor } : {};
};

/** The body as a JSON object; every way it can be wrong is a 400 on `body`. */
function jsonBody(event: Event, maxBytes: number): Record<string, unknown> {
  const raw = event.isBase64Encoded
    ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
    : (event.body ?? '');
  const bytes = Buffer.byteLength(raw);
  if (bytes > maxBytes)
    throw new RequestValidationError('body', `is ${bytes} bytes; at most ${maxBytes} are accepted`);
  if (raw.trim() === '') throw new RequestValidationError('body', 'is empty; send a job request as JSON');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new RequestValidationError('body', `is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RequestValidationError('body', 'must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

const links = (jobId: string) => ({
  self: `/v1/jobs/${jobId}`,
  steps: `/v1/jobs/${jobId}/steps`,
  cancel: `/v1/jobs/${jobId}/cancel`,
});

/** A job as the API shows it (the stored record without internals, with links and its progress). */
export function jobView(job: JobRecord, progress?: JobProgress) {
  return {
    jobId: job.jobId,
    status: job.status,
    acceptedAt: job.acceptedAt,
    ...(job.startedAt ? { startedAt: job.startedAt } : {}),
    ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
    request: job.request,
    ...(job.plan ? { plan: job.plan } : {}),
    ...(job.metrics ? { metrics: job.metrics } : {}),
    ...(job.result ? { result: job.result } : {}),
    ...(job.error ? { error: job.error } : {}),
    ...(progress ? { progress } : {}),
    links: links(job.jobId),
  };
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

const submit: RouteHandler = async (event, deps) => {
  const tenantId = tenantOf(event);
  const key = header(event, 'idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new RequestValidationError('Idempotency-Key', 'must be 1-128 characters of A-Z a-z 0-9 _ . : -');
  }
  const { tenantId: _ignored, ...body } = jsonBody(event, deps.config.apiMaxBodyBytes);
  const { job, duplicate } = await acceptJob(deps, {
    tenantId,
    request: body,
    ...(key ? { idempotencyKey: key } : {}),
    limitConcurrentJobs: true,
  });
  return json(
    202,
    { jobId: job.jobId, status: job.status, links: links(job.jobId) },
    { location: `/v1/jobs/${job.jobId}`, ...(duplicate ? { 'idempotent-replayed': 'true' } : {}) },
  );
};

const getJob: RouteHandler = async (event, deps) => {
  const job = await requireJob(deps.store, { tenantId: tenantOf(event), jobId: jobIdOf(event) });
  return json(200, jobView(job, await jobProgress(deps.steps, job)));
};

/** A listed job; one still running carries its progress (a finished one has its metrics). */
const listedJob = async (job: JobRecord, deps: ApiDeps) =>
  TERMINAL_STATUSES.includes(job.status) ? jobView(job) : jobView(job, await jobProgress(deps.steps, job));

const listJobs: RouteHandler = async (event, deps) => {
  const page = await deps.store.listJobs(tenantOf(event), {
    limit: limitOf(event, 20, 100),
    ...cursorOf(event),
  });
  return json(200, {
    items: await Promise.all(page.items.map((job) => listedJob(job, deps))),
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  });
};

const listSteps: RouteHandler = async (event, deps) => {
  const ref = { tenantId: tenantOf(event), jobId: jobIdOf(event) };
  await requireJob(deps.store, ref);
  const page = await deps.steps.listStepsPage(ref, { limit: limitOf(event, 100, 1000), ...cursorOf(event) });
  return json(200, page);
};

const cancel: RouteHandler = async (event, deps) => {
  const job = await cancelJob(deps, { tenantId: tenantOf(event), jobId: jobIdOf(event) });
  return json(200, jobView(job, await jobProgress(deps.steps, job)));
};

const getUsage: RouteHandler = async (event, deps) => {
  const tenantId = tenantOf(event);
  const period = event.queryStringParameters?.period ?? new Date().toISOString().slice(0, 7);
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw new RequestValidationError('period', 'must be YYYY-MM');
  const [usage, tenant] = await Promise.all([
    deps.ledger.usage(tenantId, period),
    deps.tenants.getTenant(tenantId),
  ]);
  if (!tenant) throw new AuthError('no such tenant');
  return json(200, {
    ...usage,
    budget: {
      budgetUsd: tenant.budgetUsd,
      availableUsd: tenant.availableUsd,
      reservedUsd: tenant.reservedUsd,
      spentUsd: tenant.spentUsd,
    },
  });
};

const getPolicy: RouteHandler = async (event, deps) => {
  const tenantId = tenantOf(event);
  const taskClass = event.queryStringParameters?.taskClass;
  if (taskClass !== undefined && !TASK_CLASS_PATTERN.test(taskClass)) {
    throw new RequestValidationError('taskClass', TASK_CLASS_RULE);
  }
  const policies = await getPolicies({ policies: deps.policies }, tenantId, taskClass);
  return json(200, { tenantId, policies });
};

const getOpenApi: RouteHandler = (_event, deps) =>
  Promise.resolve(json(200, openApiDocument(deps.config.maxSubagentsCap)));

const HANDLERS: Record<(typeof API_ROUTES)[number]['operationId'], RouteHandler> = {
  submitJob: submit,
  listJobs,
  getJob,
  listSteps,
  cancelJob: cancel,
  getUsage,
  getPolicy,
  getOpenApi,
};

/**
 * The REST API: one Lambda behind API Gateway, routing by API_ROUTES. The tenant comes from the
 * authorizer's context only; every error leaves as `{ error: { code, message, details? } }`.
 */
export function createApiHandler(
  deps: () => Promise<ApiDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const routes: Route<Event, Result>[] = API_ROUTES.map((route) => ({
    method: route.method,
    path: route.path,
    handler: async (event: Event) => {
      const d = await deps();
      // Every authenticated route counts toward the tenant's requests a second first.
      if (!('public' in route && route.public)) {
        await admitRequest(d, tenantOf(event), requestsPerSecondOf(event));
      }
      return HANDLERS[route.operationId](event, d);
    },
  }));
  return middy<Event, Result, Error, Context>()
    .use(injectLambdaContext(logger))
    .use(observe(telemetry))
    .use(corsForOrigin(async () => (await deps()).config.corsOrigin))
    .use(httpErrors({ logger }))
    .handler(httpRouterHandler({ routes }) as unknown as (event: Event, context: Context) => Promise<Result>);
}

export const handler = createApiHandler(fromEnvironment(apiDeps));
