import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import {
  createTelemetry,
  observe,
  recordJobMetrics,
  type Telemetry,
  withObservedLlm,
} from '#shared/adapters/telemetry';
import { type AggregateInput, type AggregateOutput, aggregateJob } from '#shared/use-cases/aggregate-job';
import type { NextStageOutput } from '#shared/use-cases/next-stage';
import { fromEnvironment, type WorkflowDeps, workflowDeps } from '#shared/wiring';

/**
 * Closes a job (or, for a multi-stage job with unanswered subtasks, plans its next stage): measures,
 * final answer and terminal state; also the workflow's failure path
 * (`failure` set), which stores the job as FAILED with its reason. The job it closes is reported
 * through Powertools Metrics (its measures, tokens, cost, 429s and failure-mode flags).
 */
export function createAggregateHandler(
  deps: () => Promise<WorkflowDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (
    event: AggregateInput,
    _context: Context,
  ): Promise<AggregateOutput | NextStageOutput> => {
    const observed = withObservedLlm(await deps(), telemetry);
    let out: AggregateOutput | NextStageOutput;
    try {
      out = await aggregateJob(
        { ...observed, onFinished: (ref, metrics) => recordJobMetrics(telemetry.metrics, ref, metrics) },
        event,
      );
    } finally {
      // The synthesizer call's limiter release ran beside the job's closing writes.
      await observed.llm.settled?.();
    }
    logger.info(out.status === 'NEXT_STAGE' ? 'next stage' : 'job closed', {
      jobId: out.jobId,
      status: out.status,
    });
    return out;
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

export const handler = createAggregateHandler(fromEnvironment(workflowDeps));
