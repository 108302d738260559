/**
 * The commands `parl --stack <name>` runs on a deployed stack: `tenants …`, `policy show`,
 * `trajectories export` on the stack's table (the same commands, given the stack's table instead of
 * a data directory's), `jobs …` through the stack's API, `batch submit|status` on its queue and
 * bucket, and `outputs`, the stack's outputs.
 */
import { batchCommand } from '#cli/commands/batch/index';
import { jobsCommand } from '#cli/commands/jobs/index';
import { createPolicyCommand } from '#cli/commands/policy';
import { tenantsCommand } from '#cli/commands/tenants';
import { createTrajectoriesCommand } from '#cli/commands/trajectories';
import { UsageError } from '#cli/flags';
import { describeStack, outputsText, regionOf, requireOutput, STACK_COMMANDS, stackData } from '#cli/stack';

export const STACK_HELP = `parl --stack <name> [--region R] <command>: the same commands on a deployed stack

  parl --stack ParlWorkflow outputs [--json]       the stack's outputs (API URL, table, queues, …)
  parl --stack ParlWorkflow tenants <command>      tenants, budgets and keys in the stack's table
  parl --stack ParlWorkflow policy show [...]      the tenants' fan-out policies
  parl --stack ParlWorkflow trajectories export [...]
  parl --stack ParlWorkflow jobs list|show|watch|steps|cancel|trace [...] --key parl_…
                                                   a tenant's jobs, through the stack's API (ApiUrl)
  parl --stack ParlWorkflow batch submit <file> --tenant t-… [--wait]
  parl --stack ParlWorkflow batch status           the stack's batch queue (BatchQueueUrl, BatchDlqUrl)
                                                   and uploads bucket (UploadsBucket)

The outputs are read with DescribeStacks (the AWS SDK's default credentials: AWS_PROFILE, the
environment, SSO, …; --region, else AWS_REGION, else us-east-1). AWS_ENDPOINT_URL_<SERVICE> points
the SDK elsewhere (e.g. a local stand-in). Jobs go through the stack's API (its ApiUrl output) with a
tenant's key (--key, or PARL_API_KEY).`;

/** Runs `argv` (without `--stack`/`--region`) on the deployed stack `name`. */
export async function stackCommand(
  name: string,
  regionFlag: string | undefined,
  argv: string[],
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${STACK_HELP}\n`);
    return 0;
  }
  if (!(command in STACK_COMMANDS)) {
    throw new UsageError(
      `parl --stack runs ${Object.keys(STACK_COMMANDS).join(', ')}; "${command}" acts on the local stack only`,
    );
  }
  if (rest.some((arg) => arg === '--data-dir' || arg.startsWith('--data-dir='))) {
    throw new UsageError('--data-dir and --stack do not go together: the stack has its own table');
  }
  const stack = await describeStack(name, regionOf(regionFlag));
  const open = () => Promise.resolve(stackData(stack));
  switch (command) {
    case 'outputs':
      process.stdout.write(`${outputsText(stack, rest.includes('--json'))}\n`);
      return 0;
    case 'tenants':
      return tenantsCommand(rest, open);
    case 'policy':
      return createPolicyCommand(open)(rest);
    case 'jobs':
      return jobsCommand(rest, process.env, requireOutput(stack, 'apiUrl'));
    case 'batch':
      return batchCommand(rest, stack);
    default:
      return createTrajectoriesCommand(open)(rest);
  }
}
