import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { z } from 'zod';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { createTelemetry, observe, type Telemetry } from '#shared/adapters/telemetry';
import { EXECUTION_METRICS } from '#shared/domain/swarm-metrics';
import { type CloseEndedExecutionOutput, closeEndedExecution } from '#shared/use-cases/close-ended-execution';
import { CANCEL_REASON } from '#shared/use-cases/jobs';
import { fromEnvironment, type WorkflowDeps, workflowDeps } from '#shared/wiring';

/** The EventBridge detail type of Step Functions execution status changes. */
export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

/** The fields of the event's detail the handler reads (`input` is the execution input as JSON). */
export interface ExecutionStatusDetail {
  executionArn?: string;
  stateMachineArn?: string;
  status: string;
  input?: string | null;
  error?: string | null;
  cause?: string | null;
}

export type ExecutionStatusChangeEvent = EventBridgeEvent<
  typeof EXECUTION_STATUS_CHANGE,
  ExecutionStatusDetail
>;

/** The execution input the workflow is started with. */
const executionInputSchema = z.object({ jobId: z.string().min(1), tenantId: z.string().min(1) });

const eventSchema = z.object({
  detail: z.object({
    executionArn: z.string().optional(),
    status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
    input: z
      .string()
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'is not JSON' });
          return z.NEVER;
        }
      })
      .pipe(executionInputSchema),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

/**
 * Closes the job of a workflow execution that failed outside a Catch, timed out or was stopped
 * (an EventBridge "Step Functions Execution Status Change" event), so no job stays RUNNING.
 * An event it cannot read is logged and ignored: throwing would only make EventBridge retry it.
 * An execution stopped by anyone but its tenant counts in the ExecutionsStopped metric (alarmed).
 * Returns the use case's result, or undefined for an ignored event.
 */
export function createExecutionEndedHandler(
  deps: () => Promise<WorkflowDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (
    event: ExecutionStatusChangeEvent,
    _context: Context,
  ): Promise<CloseEndedExecutionOutput | undefined> => {
    const parsed = eventSchema.safeParse(event);
    if (!parsed.success) {
      logger.warn('execution status event ignored', {
        executionArn: event?.detail?.executionArn,
        issues: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(event)'}: ${issue.message}`),
      });
      return undefined;
    }
    const { input, status, error, cause, executionArn } = parsed.data.detail;
    // A tenant's cancel stops its execution with CANCEL_REASON as the cause: that one is no alarm.
    if (status === 'ABORTED' && cause !== CANCEL_REASON) {
      telemetry.metrics.addMetric(EXECUTION_METRICS.stopped, MetricUnit.Count, 1);
    }
    const out = await closeEndedExecution(await deps(), {
      ...input,
      status,
      ...(error ? { error } : {}),
      ...(cause ? { cause } : {}),
    });
    if (out.previousStatus === undefined) {
      logger.warn('no job for the ended execution', { jobId: input.jobId, executionArn });
    } else {
      logger.info('ended execution closed', {
        jobId: out.jobId,
        executionStatus: status,
        previousStatus: out.previousStatus,
        status: out.status,
      });
    }
    return out;
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

export const handler = createExecutionEndedHandler(fromEnvironment(workflowDeps));
