import { z } from 'zod';

/**
 * The shapes of the API's answers, for the OpenAPI document (emitted with zod's `openapi-3.0`
 * target, the version the document declares). They describe what the handlers return; fields the
 * API may add later stay allowed (objects are not closed).
 */
const links = z.object({ self: z.string(), steps: z.string(), cancel: z.string() });
const jobStatus = z.enum(['ACCEPTED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED']);
const anyObject = z.looseObject({});

/** How far a job has come (GET /v1/jobs/{id} always; in a listing only on jobs still running). */
const progress = z.object({
  stage: z.number().int().min(1),
  subagents: z.object({
    done: z.number().int().min(0),
    failed: z.number().int().min(0),
    total: z.number().int().min(0),
  }),
  steps: z.number().int().min(0),
});

const job = z.looseObject({
  jobId: z.string(),
  status: jobStatus,
  acceptedAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  request: anyObject,
  plan: anyObject.optional(),
  metrics: anyObject.optional(),
  result: anyObject.optional(),
  error: z.string().optional(),
  progress: progress.optional(),
  links,
});

const step = z.looseObject({
  stage: z.number().int(),
  role: z.enum(['main', 'sub']),
  agentId: z.string(),
  step: z.number().int(),
  startedAt: z.string(),
  endedAt: z.string(),
  durationMs: z.number(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  status: z.enum(['SUCCEEDED', 'FAILED']),
  attempt: z.number().int(),
});

const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().optional() });

const usage = z.looseObject({
  tenantId: z.string(),
  period: z.string(),
  jobs: z.number().int(),
  calls: z.number().int(),
  inputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  outputTokens: z.number().int(),
  costUsd: z.number(),
  budget: z.object({
    budgetUsd: z.number(),
    availableUsd: z.number(),
    reservedUsd: z.number(),
    spentUsd: z.number(),
  }),
});

/** The response schemas by name (`#/components/schemas/<name>`). */
const RESPONSE_SCHEMAS = {
  JobAccepted: z.object({ jobId: z.string(), status: jobStatus, links }),
  Job: job,
  JobPage: page(job),
  StepPage: page(step),
  Usage: usage,
  Policies: z.object({ tenantId: z.string(), policies: z.array(anyObject) }),
  OpenApiDocument: z.looseObject({ openapi: z.string() }),
};

export type ResponseSchemaName = keyof typeof RESPONSE_SCHEMAS;

/** The response schemas as OpenAPI 3.0 Schema Objects. */
export function responseSchemas(): Record<ResponseSchemaName, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(RESPONSE_SCHEMAS).map(([name, schema]) => {
      const { $schema: _drop, ...json } = z.toJSONSchema(schema, { target: 'openapi-3.0' }) as Record<
        string,
        unknown
      >;
      return [name, json];
    }),
  ) as Record<ResponseSchemaName, Record<string, unknown>>;
}
