/**
 * The REST API's routes, defined once: the `api` handler routes by them, the OpenAPI document
 * lists them, and the CDK API creates a resource and method for each.
 */
export interface ApiRoute {
  method: 'GET' | 'POST';
  /** API Gateway resource path, parameters in braces. */
  path: string;
  operationId: string;
  summary: string;
  /** Public routes skip the API-key authorizer. */
  public?: boolean;
}

export const API_ROUTES = [
  {
    method: 'POST',
    path: '/v1/jobs',
    operationId: 'submitJob',
    summary: 'Submit a job (202; Idempotency-Key supported)',
  },
  {
    method: 'GET',
    path: '/v1/jobs',
    operationId: 'listJobs',
    summary: "The tenant's jobs, newest first (paginated)",
  },
  {
    method: 'GET',
    path: '/v1/jobs/{id}',
    operationId: 'getJob',
    summary: 'A job: status, plan, metrics, result',
  },
  {
    method: 'GET',
    path: '/v1/jobs/{id}/steps',
    operationId: 'listSteps',
    summary: "A job's step records (paginated)",
  },
  {
    method: 'POST',
    path: '/v1/jobs/{id}/cancel',
    operationId: 'cancelJob',
    summary: 'Stop a running job; it ends CANCELLED with its steps kept',
  },
  {
    method: 'GET',
    path: '/v1/usage',
    operationId: 'getUsage',
    summary: 'Usage and budget for a month (period=YYYY-MM)',
  },
  {
    method: 'GET',
    path: '/v1/policy',
    operationId: 'getPolicy',
    summary: "The tenant's fan-out policies: arms, counts, mean rewards (taskClass= for one)",
  },
  {
    method: 'GET',
    path: '/v1/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This API as an OpenAPI 3 document',
    public: true,
  },
] as const satisfies readonly ApiRoute[];
