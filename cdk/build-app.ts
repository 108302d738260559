import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';
import { REPO_ROOT } from './constructs/handler-function.ts';
import { StatefulStack } from './stateful-stack.ts';
import { WorkflowStack } from './workflow-stack.ts';

/** The stack names (and ids) of the app. */
export const STACK_NAMES = { stateful: 'ParlStateful', workflow: 'ParlWorkflow' } as const;

/**
 * Context under everything else: the workflow stack imports the table and secret with strong
 * references (CloudFormation exports), so the stateful stack cannot be deleted under it.
 */
export const BASE_CONTEXT: Readonly<Record<string, unknown>> = {
  '@aws-cdk/core:defaultCrossStackReferences': 'strong',
};

/** What {@link buildApp} returns. */
export interface ParlApp {
  readonly app: App;
  readonly stateful: StatefulStack;
  readonly workflow: WorkflowStack;
}

/**
 * Creates the CDK app with both stacks, without synthesizing it, so the CLI entry (`cdk/app.ts`),
 * the tests and the local runtime build exactly the same thing. The context of `cdk.json`
 * (feature flags) is applied here too, so an in-process synthesis matches `cdk synth`.
 *
 * @param context CDK context over {@link BASE_CONTEXT} and `cdk.json`'s, e.g.
 *   `{ moonshotModel: 'kimi-k2.5' }`, or `{ 'aws:cdk:bundling-stacks': [] }` to skip bundling.
 * @example
 * const { app, workflow } = buildApp({ 'aws:cdk:bundling-stacks': [] });
 * const template = app.synth().getStackByName(workflow.stackName).template;
 */
export function buildApp(
  context: Record<string, unknown> = {},
  props: Omit<AppProps, 'context'> = {},
): ParlApp {
  const app = new App({ ...props, context: { ...BASE_CONTEXT, ...cdkJsonContext(), ...context } });
  const stateful = new StatefulStack(app, STACK_NAMES.stateful, {
    description: 'PARL Swarm: data table and provider key (retained)',
  });
  const workflow = new WorkflowStack(app, STACK_NAMES.workflow, {
    description: 'PARL Swarm: plan, sub-agent and aggregate functions and the job state machine',
    table: stateful.table,
    moonshotApiKey: stateful.moonshotApiKey,
    batch: stateful.batch,
    items: stateful.batch,
    alarmTopic: stateful.alerts.topic,
  });
  return { app, stateful, workflow };
}

function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}
