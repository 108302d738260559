/**
 * `parl trajectories export [--tenant T] [--since ISO-date] > trajectories.jsonl`: one JSON line per
 * finished job (state, actions, per-stage steps and timings, reward with parts and weights), the input
 * of offline RL fine-tuning of an orchestrator model.
 */

import { dataDirOf } from '#cli/data-dir';
import { subcommandFlags, UsageError } from '#cli/flags';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { loadConfig } from '#shared/config';
import { exportTrajectories } from '#shared/use-cases/export-trajectories';
import { DEFAULT_CLI_TENANT, dataDirOpener, type StoreOpener } from './store-opener';

const USAGE =
  'usage: parl trajectories export [--tenant T] [--since 2026-01-01T00:00:00Z] [--data-dir .parl]';

export const TRAJECTORIES_HELP = `parl trajectories export: one JSON line per finished job (state, actions, steps, reward), for offline RL

${USAGE}

  --tenant T         the tenant (default "local", the tenant of parl run)
  --since ISO        only jobs accepted at or after this date or timestamp
  --data-dir <dir>   the data directory (default .parl, or PARL_DATA_DIR), through its running parl serve`;

/** Builds `parl trajectories` over a table opener; `write` receives each line (stdout by default). */
export function createTrajectoriesCommand(
  open: StoreOpener,
  write: (line: string) => void = (line) => process.stdout.write(line),
) {
  return async (argv: string[]): Promise<number> => {
    const values = subcommandFlags(
      argv,
      'export',
      { tenant: { type: 'string' }, since: { type: 'string' }, 'data-dir': { type: 'string' } },
      USAGE,
    );
    const tenantId = (values.tenant as string | undefined) ?? DEFAULT_CLI_TENANT;
    if (tenantId.trim() === '') throw new UsageError('--tenant must not be empty');
    const sinceRaw = values.since as string | undefined;
    let since: string | undefined;
    if (sinceRaw !== undefined) {
      const t = Date.parse(sinceRaw);
      if (Number.isNaN(t))
        throw new UsageError(`--since must be an ISO date or timestamp, got "${sinceRaw}"`);
      since = new Date(t).toISOString();
    }
    const config = loadConfig({ ...process.env, TABLE_NAME: 'unused' });
    const handle = await open(dataDirOf(values['data-dir'] as string | undefined));
    try {
      const store = new DynamoJobStore(handle.doc, handle.tableName);
      const trajectories = exportTrajectories(
        {
          jobs: store,
          steps: store,
          limits: {
            maxSubagentsCap: config.maxSubagentsCap,
            defaultMaxSubagents: config.defaultMaxSubagents,
            subagentStepBudget: config.subagentStepBudget,
            maxOutputTokens: config.maxOutputTokens,
          },
        },
        { tenantId, ...(since ? { since } : {}) },
      );
      for await (const t of trajectories) write(`${JSON.stringify(t)}\n`);
      return 0;
    } finally {
      await handle.close();
    }
  };
}

/** `parl trajectories`, reading the local data directory. */
export const trajectoriesCommand = createTrajectoriesCommand(dataDirOpener);
