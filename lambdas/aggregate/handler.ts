import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Deps } from '#shared/adapters/clients';
import { createLogger, depsFromEnvironment } from '#shared/adapters/lambda-runtime';
import { type AggregateInput, type AggregateOutput, aggregateJob } from '#shared/use-cases/aggregate-job';

/**
 * Closes a job: measures, final answer and terminal state; also the workflow's failure path
 * (`failure` set), which stores the job as FAILED with its reason.
 */
export function createAggregateHandler(deps: () => Promise<Deps>, logger: Logger = createLogger()) {
  const inner = async (event: AggregateInput, _context: Context): Promise<AggregateOutput> => {
    const d = await deps();
    const out = await aggregateJob({ ...d, steps: d.store, ledger: d.tenants }, event);
    logger.info('job closed', { jobId: out.jobId, status: out.status });
    return out;
  };
  return middy(inner).use(injectLambdaContext(logger));
}

export const handler = createAggregateHandler(depsFromEnvironment());
