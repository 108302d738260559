import { describe, expect, it } from 'vitest';
import { CONCURRENCY_CONTEXT, ContextError, reservedConcurrencyFromContext } from '#cdk/cloud-settings';
import { DEFAULT_LLM_TIMEOUT_MS } from '#shared/config';
import { logicalIdOf, synthesize } from './synth.ts';

const functionProps = (built: ReturnType<typeof synthesize>) => {
  const all = built.workflowTemplate.findResources('AWS::Lambda::Function');
  const { workflow } = built;
  const of = (fn: Parameters<typeof logicalIdOf>[0]) => all[logicalIdOf(fn)]?.Properties ?? {};
  return {
    subagent: of(workflow.subagent),
    plan: of(workflow.plan),
    aggregate: of(workflow.aggregate),
    api: of(workflow.api.handler),
    authorizer: of(workflow.api.authorizerFunction),
    executionEnded: of(workflow.executionEnded),
  };
};

describe('reserved concurrency', () => {
  const built = synthesize();
  const props = functionProps(built);

  it('gives the sub-agent function its own pool and the API, authorizer, Plan and Aggregate a floor', () => {
    expect(props.subagent.ReservedConcurrentExecutions).toBe(CONCURRENCY_CONTEXT.subagentConcurrency);
    expect(props.api.ReservedConcurrentExecutions).toBe(CONCURRENCY_CONTEXT.apiConcurrency);
    expect(props.authorizer.ReservedConcurrentExecutions).toBe(CONCURRENCY_CONTEXT.authorizerConcurrency);
    expect(props.plan.ReservedConcurrentExecutions).toBe(CONCURRENCY_CONTEXT.planConcurrency);
    expect(props.aggregate.ReservedConcurrentExecutions).toBe(CONCURRENCY_CONTEXT.aggregateConcurrency);
    // what they reserve together leaves Lambda's 100 unreserved executions of a 1,000 account
    const total = Object.values(CONCURRENCY_CONTEXT).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(900);
  });

  it('tells the plan the sub-agents’ pool, so no Map runs wider than it', () => {
    expect(props.plan.Environment.Variables.PARL_SUBAGENT_CONCURRENCY).toBe(
      String(CONCURRENCY_CONTEXT.subagentConcurrency),
    );
  });

  it('takes the pools from the context, 0 meaning none reserved', () => {
    const custom = functionProps(
      synthesize({ subagentConcurrency: '700', apiConcurrency: 0, accountConcurrency: 2000 }),
    );
    expect(custom.subagent.ReservedConcurrentExecutions).toBe(700);
    expect(custom.api).not.toHaveProperty('ReservedConcurrentExecutions');
    expect(custom.plan.Environment.Variables.PARL_SUBAGENT_CONCURRENCY).toBe('700');
  });

  it.each([
    [{ subagentConcurrency: 'many' }, /'subagentConcurrency' = "many" is not allowed: an integer from 0 to/],
    [{ planConcurrency: -1 }, /'planConcurrency' = -1 is not allowed: an integer from 0 to/],
    [{ accountConcurrency: 10 }, /'accountConcurrency' = 10 is not allowed: an integer from 100 to/],
    [
      { subagentConcurrency: 900 },
      /the functions reserve 960 executions .* leaves at most 900 to reserve; .* 'accountConcurrency'/,
    ],
    [
      { executionTimeoutHours: '0' },
      /'executionTimeoutHours' = "0" is not allowed: an integer from 1 to 8760/,
    ],
    [{ providerTier: 'tier9' }, /'providerTier' = "tier9" is not allowed: PARL_PROVIDER_TIER/],
    [
      { moonshotBaseUrl: 'not a url' },
      /'moonshotBaseUrl' = "not a url" is not allowed: MOONSHOT_BASE_URL must be a URL/,
    ],
  ])('fails the synth naming the key and what is allowed for %j', (context, message) => {
    expect(() => synthesize(context)).toThrow(message);
  });

  it('checks the pools against the account limit it is told', () => {
    expect(() => reservedConcurrencyFromContext((k) => ({ accountConcurrency: 500 })[k])).toThrow(
      ContextError,
    );
    expect(reservedConcurrencyFromContext((k) => ({ accountConcurrency: 560 })[k]).subagentConcurrency).toBe(
      400,
    );
  });
});

describe('timeouts', () => {
  const built = synthesize();
  const props = functionProps(built);
  const asl = JSON.parse(
    JSON.stringify(built.workflowTemplate.findResources('AWS::StepFunctions::StateMachine')),
  ) as Record<string, { Properties: { DefinitionString: unknown } }>;

  it('gives Plan and Aggregate more than one model call with its retry turn', () => {
    const modelCallSeconds = DEFAULT_LLM_TIMEOUT_MS / 1000;
    expect(props.plan.Timeout).toBeGreaterThan(2 * modelCallSeconds);
    expect(props.aggregate.Timeout).toBeGreaterThan(2 * modelCallSeconds);
  });

  it('tells the model-calling functions the execution timeout the plan derives the job’s deadline from', () => {
    for (const fn of [props.plan, props.subagent, props.aggregate]) {
      expect(fn.Environment.Variables.PARL_EXECUTION_TIMEOUT_SECONDS).toBe(String(24 * 3600));
    }
    expect(Object.keys(asl)).toHaveLength(1);
  });

  it('sets the execution timeout from the context', () => {
    const custom = synthesize({ executionTimeoutHours: 6 });
    expect(custom.workflow.executionTimeout.toSeconds()).toBe(6 * 3600);
    const plan = functionProps(custom).plan;
    expect(plan.Environment.Variables.PARL_EXECUTION_TIMEOUT_SECONDS).toBe(String(6 * 3600));
  });
});
