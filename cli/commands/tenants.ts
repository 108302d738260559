/**
 * `parl tenants …`: create tenants with a budget and an API key, list them, change budgets and caps,
 * revoke or rotate keys. Acts on the running `parl serve` of the data directory when there is one,
 * else on the data directory's files.
 */

import { dataDirOf, type LocalData, openLocalData } from '#cli/data-dir';
import { intFlag, numberFlag, parseFlags, UsageError } from '#cli/flags';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { loadConfig } from '#shared/config';
import { ParlError, RequestValidationError } from '#shared/domain/errors';
import { checkWeights, type Tenant } from '#shared/domain/tenant';
import type { RewardWeights } from '#shared/domain/types';
import { createTenant, rotateApiKey } from '#shared/use-cases/tenants';

export const TENANTS_HELP = `parl tenants: manage tenants, their budgets and API keys

Usage:
  parl tenants create --name <n> --budget-usd <x> [--max-subagents N] [--json]
                                   prints the tenant id and its API key (shown once; only its hash is kept)
  parl tenants list [--json]       every tenant with its budget, balance and cap
  parl tenants set-budget <tenantId> --budget-usd <x> [--json]
                                   sets the budget; the balance moves by the difference
  parl tenants set-max-subagents <tenantId> --max-subagents N
  parl tenants set-weights <tenantId> --weights λ1,λ2,λ3
                                   the tenant's rPARL weights (parallel, finish, perf; sum 1;
                                   default 0.4,0.35,0.25)
  parl tenants set-anneal <tenantId> --anneal-jobs N
                                   reward shaping: λ1, λ2 anneal to 0 over the first N jobs of each of
                                   the tenant's policies (0 = off; unset = PARL_ANNEAL_JOBS)
  parl tenants revoke <tenantId>   the key stops working (403)
  parl tenants rotate-key <tenantId> [--json]
                                   a new key (printed once); the old one stops working; refused
                                   for a revoked tenant
  parl tenants reactivate <tenantId> [--json]
                                   a revoked tenant ACTIVE again, with a new key (printed once)

Options:
  --data-dir <dir>                 local data (default .parl, or PARL_DATA_DIR); a running
                                   \`parl serve\` of that directory is used when there is one`;

const money = (x: number) => `$${x.toFixed(4)}`;

function tenantLine(t: Tenant): string {
  return `${t.tenantId}  ${t.status.padEnd(7)}  budget ${money(t.budgetUsd)}  available ${money(t.availableUsd)}  held ${money(t.reservedUsd)}  spent ${money(t.spentUsd)}  max ${t.maxSubagents} sub-agents${t.weights ? `  λ ${t.weights.parallel}/${t.weights.finish}/${t.weights.perf}` : ''}${t.annealJobs === undefined ? '' : `  anneal ${t.annealJobs === 0 ? 'off' : `${t.annealJobs} jobs`}`}  ${t.name}`;
}

/** `--weights 0.4,0.35,0.25`: λ1 (parallel), λ2 (finish), λ3 (perf), checked to sum to 1. */
function weightsFlag(raw: string | undefined): RewardWeights | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((p) => (p.trim() === '' ? Number.NaN : Number(p)));
  if (parts.length !== 3) throw new UsageError(`--weights needs three numbers λ1,λ2,λ3, got "${raw}"`);
  const [parallel, finish, perf] = parts as [number, number, number];
  try {
    return checkWeights({ parallel, finish, perf });
  } catch (error) {
    if (!(error instanceof RequestValidationError)) throw error;
    throw new UsageError(`--weights ${error.reason}, got "${raw}"`, { cause: error });
  }
}

const publicTenant = ({ keyHash: _hash, ...rest }: Tenant) => rest;

export async function tenantsCommand(
  argv: string[],
  open: (dataDir: string) => Promise<LocalData> = openLocalData,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h' || rest.includes('--help')) {
    process.stdout.write(`${TENANTS_HELP}\n`);
    return 0;
  }
  const parsed = parseFlags(
    rest,
    {
      name: { type: 'string' },
      'budget-usd': { type: 'string' },
      'max-subagents': { type: 'string' },
      'anneal-jobs': { type: 'string' },
      weights: { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
    { allowPositionals: true },
  );
  const { values: v, str } = parsed;
  const json = v.json === true;
  const cap = loadConfig({ ...process.env, TABLE_NAME: 'unused' }).maxSubagentsCap;
  const tenantArg = (): string => {
    const id = parsed.positionals[0];
    if (!id) throw new UsageError(`parl tenants ${sub} needs a tenant id (see parl tenants list)`);
    return id;
  };
  const budgetFlag = (): number => {
    const b = numberFlag('budget-usd', str('budget-usd'), 0, 1_000_000);
    if (b === undefined) throw new UsageError(`parl tenants ${sub} needs --budget-usd <dollars>`);
    return b;
  };
  const maxFlag = (required: boolean): number | undefined => {
    const raw = str('max-subagents');
    if (raw === undefined) {
      if (required) throw new UsageError(`parl tenants ${sub} needs --max-subagents N`);
      return undefined;
    }
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > cap) {
      throw new UsageError(`--max-subagents must be an integer from 1 to ${cap}, got "${raw}"`);
    }
    return n;
  };
  const withTenant = [
    'set-budget',
    'set-max-subagents',
    'set-anneal',
    'set-weights',
    'revoke',
    'rotate-key',
    'reactivate',
  ];
  if (sub !== 'create' && sub !== 'list' && !withTenant.includes(sub)) {
    throw new UsageError(`unknown tenants command "${sub}" (create, list, ${withTenant.join(', ')})`);
  }
  // Check every flag before opening anything.
  const name = str('name');
  if (sub === 'create' && !name) throw new UsageError('parl tenants create needs --name <name>');
  const budget = sub === 'create' || sub === 'set-budget' ? budgetFlag() : undefined;
  const max = maxFlag(sub === 'set-max-subagents');
  const annealJobs = intFlag('anneal-jobs', str('anneal-jobs'), 0, 1_000_000);
  if (sub === 'set-anneal' && annealJobs === undefined)
    throw new UsageError('parl tenants set-anneal needs --anneal-jobs N (0 = off)');
  const weights = weightsFlag(str('weights'));
  if (sub === 'set-weights' && weights === undefined)
    throw new UsageError('parl tenants set-weights needs --weights λ1,λ2,λ3 (e.g. 0.4,0.35,0.25)');
  const tenantId = withTenant.includes(sub) ? tenantArg() : undefined;

  const data = await open(dataDirOf(str('data-dir')));
  const tenants = new DynamoTenantStore(data.doc, data.tableName);
  const out = (text: string, doc: unknown) =>
    process.stdout.write(`${json ? JSON.stringify(doc, null, 2) : text}\n`);
  try {
    switch (sub) {
      case 'create': {
        const { tenant, apiKey } = await createTenant(
          { tenants, maxSubagentsCap: cap },
          {
            name: name as string,
            budgetUsd: budget as number,
            maxSubagents: max ?? Math.min(100, cap),
            ...(annealJobs === undefined ? {} : { annealJobs }),
            ...(weights === undefined ? {} : { weights }),
          },
        );
        out(
          `tenant ${tenant.tenantId} created (${tenant.name}, budget ${money(tenant.budgetUsd)}, max ${tenant.maxSubagents} sub-agents)\napi key: ${apiKey}\n(shown once: only its hash is stored)`,
          { tenantId: tenant.tenantId, apiKey },
        );
        return 0;
      }
      case 'list': {
        const all: Tenant[] = [];
        let cursor: string | undefined;
        do {
          const page = await tenants.listTenants({ limit: 100, ...(cursor ? { cursor } : {}) });
          all.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor);
        out(
          all.length
            ? all.map(tenantLine).join('\n')
            : 'no tenants yet (parl tenants create --name <n> --budget-usd <x>)',
          {
            tenants: all.map(publicTenant),
          },
        );
        return 0;
      }
      case 'set-budget': {
        const current = await tenants.getTenant(tenantId as string);
        if (!current) throw new UsageError(`no tenant ${tenantId}`);
        const updated = await tenants.adjustBudget(
          tenantId as string,
          (budget as number) - current.budgetUsd,
        );
        out(tenantLine(updated), publicTenant(updated));
        return 0;
      }
      case 'set-max-subagents': {
        const updated = await tenants.updateSettings(tenantId as string, { maxSubagents: max as number });
        out(tenantLine(updated), publicTenant(updated));
        return 0;
      }
      case 'set-weights': {
        const updated = await tenants.updateSettings(tenantId as string, { weights });
        out(tenantLine(updated), publicTenant(updated));
        return 0;
      }
      case 'set-anneal': {
        const updated = await tenants.updateSettings(tenantId as string, {
          annealJobs: annealJobs as number,
        });
        out(tenantLine(updated), publicTenant(updated));
        return 0;
      }
      case 'revoke': {
        await tenants.revokeKey(tenantId as string);
        out(`tenant ${tenantId}: key revoked`, { tenantId, status: 'REVOKED' });
        return 0;
      }
      default: {
        const apiKey = await rotateApiKey({ tenants }, tenantId as string, {
          reactivate: sub === 'reactivate',
        });
        out(`tenant ${tenantId}: new api key: ${apiKey}\n(shown once; the old key no longer works)`, {
          tenantId,
          apiKey,
        });
        return 0;
      }
    }
  } catch (error) {
    if (error instanceof ParlError && !(error instanceof UsageError)) {
      throw new UsageError(error.message, { cause: error });
    }
    throw error;
  } finally {
    await data.close();
  }
}
