import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Deps } from '#shared/adapters/deps';
import { createLogger, depsFromEnvironment } from '#shared/adapters/lambda-runtime';
import { type PlanInput, type PlanOutput, planJob } from '#shared/use-cases/plan-job';

/**
 * The orchestrator's plan step. Input `{jobId, tenantId}`; output the Map's input.
 * Thin: parse → planJob → result; errors keep their names for the state machine's Retry/Catch.
 */
export function createPlanHandler(deps: () => Promise<Deps>, logger: Logger = createLogger()) {
  const inner = async (event: PlanInput, _context: Context): Promise<PlanOutput> => {
    const d = await deps();
    const plan = await planJob({ ...d, steps: d.store }, { jobId: event.jobId, tenantId: event.tenantId });
    logger.info('planned', {
      jobId: plan.jobId,
      mapMode: plan.mapMode,
      ...(plan.agents ? { agents: plan.agents.length } : {}),
      ...(plan.items ? { items: `s3://${plan.items.bucket}/${plan.items.key}` } : {}),
    });
    return plan;
  };
  return middy(inner).use(injectLambdaContext(logger));
}

export const handler = createPlanHandler(depsFromEnvironment());
