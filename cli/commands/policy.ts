/**
 * `parl policy show [--tenant T] [--task-class C] [--json]`: the fan-out policies of a tenant, with
 * their arms, counts and mean rewards (the same use case as `GET /v1/policy`).
 */

import { dataDirOf } from '#cli/data-dir';
import { subcommandFlags, UsageError } from '#cli/flags';
import { DynamoPolicyStore } from '#shared/adapters/dynamo/policy-store';
import type { PolicyView } from '#shared/domain/policy';
import { getPolicies } from '#shared/use-cases/policy';
import { DEFAULT_CLI_TENANT, dataDirOpener, type StoreOpener } from './store-opener';

const USAGE = 'usage: parl policy show [--tenant T] [--task-class C] [--json] [--data-dir .parl]';

export const POLICY_HELP = `parl policy show: a tenant's fan-out policies (arms, counts, mean rewards), as GET /v1/policy

${USAGE}

  --tenant T         the tenant (default "local", the tenant of parl run)
  --task-class C     one task class only
  --json             one JSON document on stdout
  --data-dir <dir>   the data directory (default .parl, or PARL_DATA_DIR), through its running parl serve`;

/** The text report of the policies. */
export function policyText(tenantId: string, policies: readonly PolicyView[]): string {
  if (policies.length === 0) return `tenant ${tenantId}: no policy has learned from a job yet`;
  const lines: string[] = [];
  for (const p of policies) {
    lines.push(
      `tenant ${tenantId} · task class ${p.taskClass} · ${p.jobs} jobs learned · best arm ${p.bestArm ?? '–'}`,
    );
    lines.push('  arm        width  items/agent  count  mean reward');
    for (const a of p.arms) {
      lines.push(
        `  ${a.id.padEnd(9)}  ${String(a.width).padStart(5)}  ${(a.itemsPerAgent === undefined ? 'even' : String(a.itemsPerAgent)).padStart(11)}  ${String(a.count).padStart(5)}  ${a.meanReward === null ? '–' : a.meanReward.toFixed(3)}`,
      );
    }
    if (p.recentPerf.length > 0) {
      lines.push(
        `  recent r_perf ${p.recentPerf
          .slice(-10)
          .map((r) => r.toFixed(2))
          .join(' ')}`,
      );
    }
  }
  return lines.join('\n');
}

/** Builds `parl policy` over a table opener (the local data directory by default). */
export function createPolicyCommand(open: StoreOpener) {
  return async (argv: string[]): Promise<number> => {
    const values = subcommandFlags(
      argv,
      'show',
      {
        tenant: { type: 'string' },
        'task-class': { type: 'string' },
        json: { type: 'boolean' },
        'data-dir': { type: 'string' },
      },
      USAGE,
    );
    const tenantId = (values.tenant as string | undefined) ?? DEFAULT_CLI_TENANT;
    const taskClass = values['task-class'] as string | undefined;
    if (tenantId.trim() === '') throw new UsageError('--tenant must not be empty');
    const handle = await open(dataDirOf(values['data-dir'] as string | undefined));
    try {
      const policies = await getPolicies(
        { policies: new DynamoPolicyStore(handle.doc, handle.tableName) },
        tenantId,
        taskClass,
      );
      process.stdout.write(
        `${values.json === true ? JSON.stringify({ tenantId, policies }, null, 2) : policyText(tenantId, policies)}\n`,
      );
      return 0;
    } finally {
      await handle.close();
    }
  };
}

/** `parl policy`, reading the local data directory. */
export const policyCommand = createPolicyCommand(dataDirOpener);
