import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { fanOutMetricsEmf } from '#shared/domain/fan-out-metrics';
import { type AggregateInput, type AggregateOutput, aggregateJob } from '#shared/use-cases/aggregate-job';
import type { NextStageOutput } from '#shared/use-cases/next-stage';
import { fromEnvironment, type WorkflowDeps, workflowDeps } from '#shared/wiring';

/**
 * Where the alarm metrics go: stdout in Lambda (CloudWatch Logs reads the EMF lines); nowhere
 * elsewhere, so the local runtime's stdout stays the CLI's.
 */
export const emfWriter =
  (env: Record<string, string | undefined> = process.env) =>
  (line: string): void => {
    if (env.AWS_LAMBDA_FUNCTION_NAME) process.stdout.write(`${line}\n`);
  };

/**
 * Closes a job (or, for a multi-stage job with unanswered subtasks, plans its next stage): measures,
 * final answer and terminal state; also the workflow's failure path
 * (`failure` set), which stores the job as FAILED with its reason.
 */
export function createAggregateHandler(
  deps: () => Promise<WorkflowDeps>,
  logger: Logger = createLogger(),
  emit: (line: string) => void = emfWriter(),
) {
  const inner = async (
    event: AggregateInput,
    _context: Context,
  ): Promise<AggregateOutput | NextStageOutput> => {
    const service = process.env.POWERTOOLS_SERVICE_NAME ?? 'parl-swarm';
    const out = await aggregateJob(
      {
        ...(await deps()),
        onFinished: (ref, metrics) => {
          if (metrics.flags) emit(JSON.stringify(fanOutMetricsEmf(metrics.flags, { service, ...ref })));
        },
      },
      event,
    );
    logger.info(out.status === 'NEXT_STAGE' ? 'next stage' : 'job closed', {
      jobId: out.jobId,
      status: out.status,
    });
    return out;
  };
  return middy(inner).use(injectLambdaContext(logger));
}

export const handler = createAggregateHandler(fromEnvironment(workflowDeps));
