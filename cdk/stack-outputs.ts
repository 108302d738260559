import { Aws, CfnOutput, type Stack } from 'aws-cdk-lib';
import { STACK_OUTPUTS, type StackOutputName } from '#shared/domain/stack-outputs';

/** What the workflow stack tells an operator: each value and its description. */
export type OutputValues = Partial<Record<StackOutputName, { value: string; description: string }>>;

/**
 * Adds the operator's outputs ({@link STACK_OUTPUTS}) to `stack`, with the region always; the
 * dashboard's URL is its own construct's output.
 */
export function addStackOutputs(stack: Stack, values: OutputValues): void {
  const all: OutputValues = {
    ...values,
    region: { value: Aws.REGION, description: 'The region the stack is deployed in' },
  };
  for (const [name, output] of Object.entries(all) as [
    StackOutputName,
    { value: string; description: string },
  ][]) {
    new CfnOutput(stack, STACK_OUTPUTS[name], output);
  }
}
