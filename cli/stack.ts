/**
 * `parl --stack <name> [--region R] <command>`: the same commands on a deployed stack. The stack's
 * outputs (DescribeStacks, `@aws-sdk/client-cloudformation`, the SDK's default credential chain and
 * `AWS_PROFILE`) name its resources; the commands then run the same use cases and adapters as
 * locally, on the real table (tenants, policy, trajectories), API (jobs), queue and bucket (batch).
 * Only endpoints and names differ: the SDK's `AWS_ENDPOINT_URL_<SERVICE>` variables point it
 * anywhere (the tests point it at the embedded stack and a stand-in for CloudFormation).
 */
import {
  CloudFormationClient,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
} from '@aws-sdk/client-cloudformation';
import type { LocalData } from '#cli/data-dir';
import { UsageError } from '#cli/flags';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { STACK_OUTPUTS, type StackOutputName, type StackOutputs } from '#shared/domain/stack-outputs';

/** A deployed stack: its name, region and outputs. */
export interface DeployedStack {
  name: string;
  region: string;
  outputs: StackOutputs;
}

/** The commands that act on a deployed stack, with what each needs of its outputs. */
export const STACK_COMMANDS: Record<string, StackOutputName[]> = {
  tenants: ['tableName'],
  policy: ['tableName'],
  trajectories: ['tableName'],
  jobs: ['apiUrl'],
  batch: ['batchQueueUrl', 'tableName'],
  outputs: [],
};

/** The global flags taken out of argv: `--stack <name>`, `--region <r>` (anywhere on the line). */
export function takeStackFlags(argv: readonly string[]): {
  stack: string | undefined;
  region: string | undefined;
  rest: string[];
} {
  const rest: string[] = [];
  let stack: string | undefined;
  let region: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith('--') ? (arg.split(/=(.*)/s, 2) as [string, string?]) : [arg];
    if (flag === '--stack' || flag === '--region') {
      const value = inline ?? argv[++i];
      if (value === undefined || value.startsWith('--') || value.trim() === '') {
        throw new UsageError(
          `${flag} needs a value (e.g. ${flag === '--stack' ? '--stack ParlWorkflow' : '--region eu-central-1'})`,
        );
      }
      if (flag === '--stack') stack = value;
      else region = value;
      continue;
    }
    rest.push(arg);
  }
  if (region !== undefined && stack === undefined) throw new UsageError('--region goes with --stack <name>');
  return { stack, region, rest };
}

/** The region: `--region`, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else us-east-1. */
export function regionOf(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
}

/**
 * Reads a stack's outputs. Fails with a message naming the stack (and region) when it does not
 * exist or cannot be read.
 */
export async function describeStack(
  name: string,
  region: string,
  client: CloudFormationClient = new CloudFormationClient({ region }),
): Promise<DeployedStack> {
  let stack: DescribeStacksCommandOutput;
  try {
    stack = await client.send(new DescribeStacksCommand({ StackName: name }));
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new UsageError(`cannot read the outputs of stack "${name}" in ${region}: ${why}`, { cause: error });
  }
  const found = stack.Stacks?.[0];
  if (!found) throw new UsageError(`stack "${name}" was not found in ${region}`);
  const byKey = new Map((found.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const outputs: StackOutputs = {};
  for (const [what, key] of Object.entries(STACK_OUTPUTS) as [StackOutputName, string][]) {
    const value = byKey.get(key);
    if (value !== undefined) outputs[what] = value;
  }
  return { name, region: outputs.region ?? region, outputs };
}

/** The output a command needs, or a message saying which one the stack lacks. */
export function requireOutput(stack: DeployedStack, what: StackOutputName): string {
  const value = stack.outputs[what];
  if (value === undefined) {
    throw new UsageError(
      `stack "${stack.name}" has no output ${STACK_OUTPUTS[what]} (is it the workflow stack, ParlWorkflow?)`,
    );
  }
  return value;
}

/** The stack's table, opened as the data commands open a data directory's (same adapters). */
export function stackData(stack: DeployedStack): LocalData {
  const tableName = requireOutput(stack, 'tableName');
  // No endpoint: the SDK's own resolution (AWS itself, or AWS_ENDPOINT_URL_DYNAMODB).
  const doc = createDynamoDocumentClient({ region: stack.region, dynamodbEndpoint: undefined });
  return { doc, tableName, via: 'server', close: () => Promise.resolve() };
}

/** `parl --stack X outputs [--json]`: the stack's outputs. */
export function outputsText(stack: DeployedStack, json: boolean): string {
  if (json)
    return JSON.stringify({ stack: stack.name, region: stack.region, outputs: stack.outputs }, null, 2);
  const lines = (Object.entries(STACK_OUTPUTS) as [StackOutputName, string][]).map(
    ([what, key]) => `  ${key.padEnd(16)} ${stack.outputs[what] ?? '(none)'}`,
  );
  return [`stack ${stack.name} (${stack.region})`, ...lines].join('\n');
}
