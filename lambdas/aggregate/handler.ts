import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Deps } from '#shared/adapters/deps';
import { createLogger, depsFromEnvironment } from '#shared/adapters/lambda-runtime';
import {
  createTelemetry,
  observe,
  recordJobMetrics,
  type Telemetry,
  withObservedLlm,
} from '#shared/adapters/telemetry';
import { type AggregateInput, type AggregateOutput, aggregateJob } from '#shared/use-cases/aggregate-job';
import type { NextStageOutput } from '#shared/use-cases/next-stage';

/**
 * Closes a job (or, for a multi-stage job with unanswered subtasks, plans its next stage): measures,
 * final answer and terminal state; also the workflow's failure path
 * (`failure` set), which stores the job as FAILED with its reason. The job it closes is reported
 * through Powertools Metrics (its measures, tokens, cost, 429s and failure-mode flags).
 */
export function createAggregateHandler(
  deps: () => Promise<Deps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (
    event: AggregateInput,
    _context: Context,
  ): Promise<AggregateOutput | NextStageOutput> => {
    const d = await deps();
    const out = await aggregateJob(
      {
        ...withObservedLlm(d, telemetry),
        steps: d.store,
        onFinished: (ref, metrics) => recordJobMetrics(telemetry.metrics, ref, metrics),
      },
      event,
    );
    logger.info(out.status === 'NEXT_STAGE' ? 'next stage' : 'job closed', {
      jobId: out.jobId,
      status: out.status,
    });
    return out;
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

export const handler = createAggregateHandler(depsFromEnvironment());
