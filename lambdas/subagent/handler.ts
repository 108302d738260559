import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { createTelemetry, observe, type Telemetry, withObservedLlm } from '#shared/adapters/telemetry';
import {
  recordSubagentFailure,
  type SubagentFailureInput,
  type SubagentFailureOutput,
} from '#shared/use-cases/record-subagent-failure';
import { runSubagent, type SubagentInput, type SubagentOutput } from '#shared/use-cases/run-subagent';
import { fromEnvironment, type WorkflowDeps, workflowDeps } from '#shared/wiring';

/**
 * One sub-agent: runs its subtasks and returns a small summary (answers and outcome stay in
 * DynamoDB). It stops before the function's timeout (the context's remaining time), recording what
 * it has. With `failure` set (the workflow's `SubagentFailed` step) it records a sub-agent the Map
 * caught failing, with a short reason.
 */
export function createSubagentHandler(
  deps: () => Promise<WorkflowDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (
    event: SubagentInput | SubagentFailureInput,
    context: Context,
  ): Promise<SubagentOutput | SubagentFailureOutput> => {
    if ('failure' in event) {
      const recorded = await recordSubagentFailure(await deps(), event);
      logger.info('sub-agent failure recorded', { jobId: event.jobId, ...recorded });
      return recorded;
    }
    const lambdaDeadlineAt = Date.now() + context.getRemainingTimeInMillis();
    const observed = withObservedLlm(await deps(), telemetry);
    let out: SubagentOutput;
    try {
      out = await runSubagent(observed, event, { lambdaDeadlineAt });
    } finally {
      // The last call's limiter release ran beside the agent's last writes; none outlives the invocation.
      await observed.llm.settled?.();
    }
    logger.info('sub-agent finished', { jobId: event.jobId, agentId: out.agentId, status: out.status });
    return out;
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

export const handler = createSubagentHandler(fromEnvironment(workflowDeps));
