import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { createTelemetry, observe, type Telemetry, withObservedLlm } from '#shared/adapters/telemetry';
import { type PlanInput, planJob } from '#shared/use-cases/plan-job';
import type { PlanOutput } from '#shared/use-cases/plan-stage';
import { fromEnvironment, type WorkflowDeps, workflowDeps } from '#shared/wiring';

/**
 * The orchestrator's plan step. Input `{jobId, tenantId}`; output the Map's input.
 * Thin: parse → planJob → result; errors keep their names for the state machine's Retry/Catch.
 */
export function createPlanHandler(
  deps: () => Promise<WorkflowDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (event: PlanInput, _context: Context): Promise<PlanOutput> => {
    const observed = withObservedLlm(await deps(), telemetry);
    let plan: PlanOutput;
    try {
      plan = await planJob(observed, { jobId: event.jobId, tenantId: event.tenantId });
    } finally {
      // The planner call's limiter release ran beside the plan's writes; none outlives the invocation.
      await observed.llm.settled?.();
    }
    logger.info('planned', {
      jobId: plan.jobId,
      mapMode: plan.mapMode,
      ...(plan.agents ? { agents: plan.agents.length } : {}),
      ...(plan.items ? { items: `s3://${plan.items.bucket}/${plan.items.key}` } : {}),
    });
    return plan;
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

export const handler = createPlanHandler(fromEnvironment(workflowDeps));
