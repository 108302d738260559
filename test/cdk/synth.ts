import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { buildApp } from '#cdk/build-app';

/** Context that skips bundling the functions, so synthesis takes seconds. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] } as const;

/** Builds the app without bundling and synthesizes both stacks into assertion templates. */
export function synthesize(context: Record<string, unknown> = {}) {
  const built = buildApp({ ...NO_BUNDLING, ...context });
  return {
    ...built,
    statefulTemplate: Template.fromStack(built.stateful),
    workflowTemplate: Template.fromStack(built.workflow),
  };
}

/** The logical id of a construct's CloudFormation resource. */
export function logicalIdOf(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement;
  return element.stack.getLogicalId(element);
}
