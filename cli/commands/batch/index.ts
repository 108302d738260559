/**
 * `parl batch submit <file.jsonl|file.csv> [--tenant <id>]` and `parl batch status [--json]`.
 *
 * `submit` turns a file into batch-queue traffic: a JSONL file of job requests (lines with `task`,
 * or job messages with `request`) becomes one message per line; a CSV file, or a JSONL file of
 * subtasks, is uploaded to `incoming/<tenant>/<file>` and becomes one job through the bucket's
 * notification. With a running `parl serve` the traffic goes to its intake (serve.json names the
 * endpoint, `./server.ts`); without one, the command starts the embedded stack with its batch
 * intake (`./embedded.ts`), runs until the queue is drained and every job it started is terminal,
 * and prints the jobs. With `parl --stack <name>` the traffic goes to the deployed stack's queue and
 * bucket (`./stack.ts`). The file is read and checked first (`./parse.ts`).
 */
import { dataDirOf, readServeInfo } from '#cli/data-dir';
import { parseFlags, UsageError } from '#cli/flags';
import type { DeployedStack } from '#cli/stack';
import type { BatchStatus } from '#shared/domain/batch';
import { submitEmbedded } from './embedded';
import { BATCH_HELP } from './help';
import { parseBatchSubmitArgs } from './parse';
import { serverBatchStatus, submitToServer } from './server';
import { stackBatchStatus, submitToStack } from './stack';

/**
 * `parl batch submit`: to a deployed stack's intake (`--stack`), else to the running `parl serve`
 * of the data directory, else on an embedded stack.
 */
export async function batchSubmitCommand(argv: string[], stack?: DeployedStack): Promise<number> {
  const opts = parseBatchSubmitArgs(argv);
  if (stack) return await submitToStack(opts, stack);
  const running = readServeInfo(opts.dataDir);
  return running ? await submitToServer(opts, running) : await submitEmbedded(opts);
}

/**
 * `parl batch status [--json]`: the queue depth, in flight, DLQ depth and jobs started of a deployed
 * stack's intake (`--stack`), else of the data directory's running server.
 */
export async function batchStatusCommand(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  stack?: DeployedStack,
): Promise<number> {
  const parsed = parseFlags(argv, { json: { type: 'boolean' }, 'data-dir': { type: 'string' } });
  const dataDir = dataDirOf(parsed.str('data-dir'), env);
  const status: BatchStatus | undefined = stack
    ? await stackBatchStatus(stack)
    : await serverBatchStatus(dataDir);
  if (!status) {
    process.stderr.write(
      `parl batch status: no parl serve with a batch intake is running for ${dataDir}; start one with \`parl serve\` (without a server, \`parl batch submit\` runs its own stack and prints this status when it ends)\n`,
    );
    return 1;
  }
  process.stdout.write(
    parsed.values.json
      ? `${JSON.stringify(status)}\n`
      : `batch queue depth ${status.queueDepth} · in flight ${status.inFlight} · DLQ ${status.dlqDepth} · jobs started ${status.jobsStarted}\n`,
  );
  return 0;
}

const HELP_WORDS = ['help', '--help', '-h'];

/** `parl batch <submit|status>`, on a deployed stack when one is given (`parl --stack`). */
export async function batchCommand(argv: string[], stack?: DeployedStack): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || HELP_WORDS.includes(sub) || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${BATCH_HELP}\n`);
    return 0;
  }
  if (sub === 'submit') return await batchSubmitCommand(rest, stack);
  if (sub === 'status') return await batchStatusCommand(rest, process.env, stack);
  throw new UsageError(`unknown batch command "${sub}" (submit or status)`);
}
