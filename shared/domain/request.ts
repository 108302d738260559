import { z } from 'zod';
import { RequestValidationError } from './errors';
import { MAX_JOB_STAGES, MAX_SUBAGENTS_PER_JOB } from './fan-out-limits';
import { checkDatasetBounds, checkJsonBounds, fieldOf } from './input-bounds';
import type { JobRequest, Subtask } from './types';
import { inferWorkload, WORKLOAD_NAMES, workloadOf } from './workloads/registry';

/** Limits of a job request. */
/** A task class: what a policy is kept per (with the tenant). */
export const TASK_CLASS_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const TASK_CLASS_RULE = 'must be 1-64 characters of a-z 0-9 . _ -';

export const REQUEST_LIMITS = {
  taskChars: 10_000,
  /** One sub-agent a subtask at most: as many subtasks as a job may have sub-agents. */
  subtasks: MAX_SUBAGENTS_PER_JOB,
  promptChars: 20_000,
  minOutputTokens: 16,
  maxOutputTokens: 32_768,
  maxStages: MAX_JOB_STAGES,
} as const;

const subtaskSchema = z.union([
  z.string().trim().min(1, 'must not be empty').max(REQUEST_LIMITS.promptChars),
  z
    .object({
      id: z
        .string()
        .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ : -')
        .optional(),
      prompt: z.string().trim().min(1, 'must not be empty').max(REQUEST_LIMITS.promptChars),
      expected: z.string().max(10_000).optional(),
    })
    .strict(),
]);

const requestSchema = (maxSubagentsCap: number) =>
  z
    .object({
      task: z.string().trim().min(1, 'must not be empty').max(REQUEST_LIMITS.taskChars),
      taskClass: z.string().regex(TASK_CLASS_PATTERN, TASK_CLASS_RULE).optional(),
      workload: z.enum(WORKLOAD_NAMES).optional(),
      subtasks: z.array(subtaskSchema).min(1, 'must not be empty').max(REQUEST_LIMITS.subtasks).optional(),
      mode: z.enum(['parl', 'sequential']).optional(),
      maxSubagents: z
        .number()
        .int()
        .min(1, 'must be at least 1')
        .max(maxSubagentsCap, `must be at most ${maxSubagentsCap}, the cap on sub-agents at once`)
        .optional(),
      maxOutputTokens: z
        .number()
        .int()
        .min(REQUEST_LIMITS.minOutputTokens)
        .max(REQUEST_LIMITS.maxOutputTokens)
        .optional(),
      dataset: z.record(z.string(), z.array(z.unknown())).optional(),
      itemsPerAgent: z.number().int().min(1).max(REQUEST_LIMITS.subtasks).optional(),
      policy: z.enum(['off', 'learn', 'greedy']).optional(),
      toggle: z.boolean().optional(),
      maxStages: z.number().int().min(1).max(REQUEST_LIMITS.maxStages).optional(),
    })
    .strict();

/**
 * The job request as JSON Schema: 2020-12 by default; `openapi-3.0` for the OpenAPI document,
 * which must not embed keywords its version does not know (`propertyNames`, `const`, …).
 */
export function jobRequestJsonSchema(
  maxSubagentsCap: number,
  target: 'draft-2020-12' | 'openapi-3.0' = 'draft-2020-12',
): Record<string, unknown> {
  return z.toJSONSchema(requestSchema(maxSubagentsCap), { io: 'input', target }) as Record<string, unknown>;
}

const pathOf = (path: readonly PropertyKey[]): string =>
  fieldOf(path.map((p) => (typeof p === 'number' ? p : String(p))));

/**
 * Validates a job request (the body of `POST /v1/jobs`, the file of `--input`) and fills defaults.
 * Throws a RequestValidationError that names the first wrong field. What it accepts can be stored
 * ({@link checkJsonBounds}, {@link checkDatasetBounds}).
 */
export function parseJobRequest(raw: unknown, opts: { maxSubagentsCap: number }): JobRequest {
  checkJsonBounds(raw);
  const parsed = requestSchema(opts.maxSubagentsCap).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      const field = issue.path.length > 0 ? `${pathOf(issue.path)}.${key}` : key;
      throw new RequestValidationError(field, 'is not a known field');
    }
    const field = issue ? pathOf(issue.path) : 'request';
    throw new RequestValidationError(field, issue?.message ?? 'is invalid');
  }
  const r = parsed.data;
  const subtasks = r.subtasks?.map((s, i): Subtask => {
    const fallbackId = `S-${String(i + 1).padStart(4, '0')}`;
    if (typeof s === 'string') return { id: fallbackId, prompt: s };
    return {
      id: s.id ?? fallbackId,
      prompt: s.prompt,
      ...(s.expected === undefined ? {} : { expected: s.expected }),
    };
  });
  if (subtasks) {
    const seen = new Set<string>();
    subtasks.forEach((s, i) => {
      if (seen.has(s.id)) throw new RequestValidationError(`subtasks[${i}].id`, `duplicate id "${s.id}"`);
      seen.add(s.id);
    });
  }
  checkDatasetBounds(r.dataset);
  const workload = r.workload ?? inferWorkload(r.dataset);
  workloadOf(workload).requireDataset(r.dataset);
  if (r.toggle === true && (r.policy ?? 'off') === 'off') {
    throw new RequestValidationError(
      'toggle',
      'needs policy "learn" or "greedy" (TOGGLE reads the policy\'s r_perf)',
    );
  }
  return {
    task: r.task,
    workload,
    mode: r.mode ?? 'parl',
    ...(r.taskClass === undefined ? {} : { taskClass: r.taskClass }),
    ...(subtasks === undefined ? {} : { subtasks }),
    ...(r.maxSubagents === undefined ? {} : { maxSubagents: r.maxSubagents }),
    ...(r.maxOutputTokens === undefined ? {} : { maxOutputTokens: r.maxOutputTokens }),
    ...(r.dataset === undefined ? {} : { dataset: r.dataset }),
    ...(r.itemsPerAgent === undefined ? {} : { itemsPerAgent: r.itemsPerAgent }),
    ...(r.policy === undefined ? {} : { policy: r.policy }),
    ...(r.toggle === undefined ? {} : { toggle: r.toggle }),
    ...(r.maxStages === undefined ? {} : { maxStages: r.maxStages }),
  };
}
