import { API_ROUTES } from '#shared/domain/api-routes';
import { jobRequestJsonSchema, TASK_CLASS_PATTERN } from '#shared/domain/request';
import { type ResponseSchemaName, responseSchemas } from './openapi-schemas';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } },
    },
  },
};

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** A 2xx answer with its JSON schema. */
const okResponse = (description: string, schema: ResponseSchemaName) => ({
  description,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } },
});

const pageParams = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' }, description: 'nextCursor of the previous page' },
];

/** Per-operation details beyond what API_ROUTES says. */
const OPERATIONS: Record<string, Record<string, unknown>> = {
  submitJob: {
    parameters: [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 128 } }],
    requestBody: {
      required: true,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/JobRequest' } } },
    },
    responses: {
      202: okResponse('accepted; Location names the job', 'JobAccepted'),
      400: errorResponse('invalid request; details.field names what is wrong'),
      402: errorResponse('the budget cannot cover the job'),
      409: errorResponse('the Idempotency-Key was used with another request'),
    },
  },
  listJobs: {
    parameters: pageParams,
    responses: { 200: okResponse('a page of jobs, newest first', 'JobPage') },
  },
  getJob: { responses: { 200: okResponse('the job', 'Job'), 404: errorResponse('no such job') } },
  listSteps: {
    parameters: pageParams,
    responses: { 200: okResponse('a page of step records', 'StepPage'), 404: errorResponse('no such job') },
  },
  cancelJob: {
    responses: {
      200: okResponse('the job, CANCELLED', 'Job'),
      404: errorResponse('no such job'),
      409: errorResponse('the job has already ended'),
    },
  },
  getUsage: {
    parameters: [{ name: 'period', in: 'query', schema: { type: 'string', pattern: '^\\d{4}-\\d{2}$' } }],
    responses: { 200: okResponse('usage of the period and the budget', 'Usage') },
  },
  getPolicy: {
    parameters: [
      { name: 'taskClass', in: 'query', schema: { type: 'string', pattern: TASK_CLASS_PATTERN.source } },
    ],
    responses: {
      200: okResponse('{ tenantId, policies: [{ taskClass, jobs, bestArm, arms, ... }] }', 'Policies'),
    },
  },
  getOpenApi: { responses: { 200: okResponse('this document', 'OpenApiDocument') } },
};

/**
 * The OpenAPI 3.0.3 document of the REST API, built from the same route table the handler routes by;
 * its schemas are emitted for 3.0 (zod's `openapi-3.0` target), so validators accept it.
 */
export function openApiDocument(maxSubagentsCap: number) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    const params = route.path.includes('{id}')
      ? [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]
      : [];
    const extra = OPERATIONS[route.operationId] ?? {};
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...('public' in route && route.public ? { security: [] } : {}),
      ...extra,
      parameters: [...params, ...((extra.parameters as unknown[]) ?? [])],
      responses: {
        ...(extra.responses as Record<string, unknown>),
        401: errorResponse('missing or unknown API key'),
        403: errorResponse('revoked API key'),
        ...('public' in route && route.public
          ? {}
          : {
              429: errorResponse(
                "a tenant's limit was reached (details.limit: requestsPerSecond, or maxConcurrentJobs on submission); retry after the Retry-After header's seconds",
              ),
            }),
      },
    };
  }
  const { $schema: _drop, ...jobRequest } = jobRequestJsonSchema(maxSubagentsCap, 'openapi-3.0');
  return {
    openapi: '3.0.3',
    info: { title: 'PARL Swarm API', version: '1' },
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: { JobRequest: jobRequest, Error: errorSchema, ...responseSchemas() },
    },
  };
}
