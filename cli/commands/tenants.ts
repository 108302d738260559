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
import {
  checkWeights,
  DEFAULT_TENANT_LIMITS,
  TENANT_LIMIT_RANGES,
  type Tenant,
  type TenantSettings,
  tenantLimitsOf,
} from '#shared/domain/tenant';
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
  parl tenants set-limits <tenantId> [--requests-per-second N] [--max-concurrent-jobs N]
                                   the tenant's own API limits (429 with Retry-After beyond them;
                                   defaults ${DEFAULT_TENANT_LIMITS.requestsPerSecond} requests a second, ${DEFAULT_TENANT_LIMITS.maxConcurrentJobs} jobs at once)
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
  const limits = tenantLimitsOf(t);
  return `${t.tenantId}  ${t.status.padEnd(7)}  budget ${money(t.budgetUsd)}  available ${money(t.availableUsd)}  held ${money(t.reservedUsd)}  spent ${money(t.spentUsd)}  max ${t.maxSubagents} sub-agents  ${limits.requestsPerSecond} req/s  ${t.activeJobs ?? 0}/${limits.maxConcurrentJobs} jobs${t.weights ? `  λ ${t.weights.parallel}/${t.weights.finish}/${t.weights.perf}` : ''}${t.annealJobs === undefined ? '' : `  anneal ${t.annealJobs === 0 ? 'off' : `${t.annealJobs} jobs`}`}  ${t.name}`;
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

const WITH_TENANT = [
  'set-budget',
  'set-max-subagents',
  'set-anneal',
  'set-weights',
  'set-limits',
  'revoke',
  'rotate-key',
  'reactivate',
];

/** The checked arguments of a `parl tenants` command. */
interface TenantsArgs {
  sub: string;
  json: boolean;
  dataDir: string;
  cap: number;
  tenantId?: string;
  name?: string;
  budget?: number;
  max?: number;
  annealJobs?: number;
  weights?: RewardWeights;
  limits?: Pick<TenantSettings, 'requestsPerSecond' | 'maxConcurrentJobs'>;
}

/** `--requests-per-second N` and `--max-concurrent-jobs N`, within their ranges; set-limits needs one. */
function limitsFlags(sub: string, str: (name: string) => string | undefined): TenantsArgs['limits'] {
  const { requestsPerSecond: rps, maxConcurrentJobs: jobs } = TENANT_LIMIT_RANGES;
  const requestsPerSecond = intFlag('requests-per-second', str('requests-per-second'), rps.min, rps.max);
  const maxConcurrentJobs = intFlag('max-concurrent-jobs', str('max-concurrent-jobs'), jobs.min, jobs.max);
  if (sub === 'set-limits' && requestsPerSecond === undefined && maxConcurrentJobs === undefined) {
    throw new UsageError(
      'parl tenants set-limits needs --requests-per-second N and/or --max-concurrent-jobs N',
    );
  }
  if (requestsPerSecond === undefined && maxConcurrentJobs === undefined) return undefined;
  return {
    ...(requestsPerSecond === undefined ? {} : { requestsPerSecond }),
    ...(maxConcurrentJobs === undefined ? {} : { maxConcurrentJobs }),
  };
}

/** Parses and checks every flag of `parl tenants <sub>` before anything is opened; throws UsageError. */
function parseTenantsArgs(sub: string, rest: string[]): TenantsArgs {
  const parsed = parseFlags(
    rest,
    {
      name: { type: 'string' },
      'budget-usd': { type: 'string' },
      'max-subagents': { type: 'string' },
      'anneal-jobs': { type: 'string' },
      weights: { type: 'string' },
      'requests-per-second': { type: 'string' },
      'max-concurrent-jobs': { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
    { allowPositionals: true },
  );
  const { values: v, str } = parsed;
  const cap = loadConfig({ ...process.env, TABLE_NAME: 'unused' }).maxSubagentsCap;
  if (sub !== 'create' && sub !== 'list' && !WITH_TENANT.includes(sub)) {
    throw new UsageError(`unknown tenants command "${sub}" (create, list, ${WITH_TENANT.join(', ')})`);
  }
  const name = str('name');
  if (sub === 'create' && !name) throw new UsageError('parl tenants create needs --name <name>');
  const budget = sub === 'create' || sub === 'set-budget' ? budgetFlag(sub, str('budget-usd')) : undefined;
  const max = maxFlag(sub, str('max-subagents'), cap);
  const annealJobs = intFlag('anneal-jobs', str('anneal-jobs'), 0, 1_000_000);
  if (sub === 'set-anneal' && annealJobs === undefined)
    throw new UsageError('parl tenants set-anneal needs --anneal-jobs N (0 = off)');
  const weights = weightsFlag(str('weights'));
  if (sub === 'set-weights' && weights === undefined)
    throw new UsageError('parl tenants set-weights needs --weights λ1,λ2,λ3 (e.g. 0.4,0.35,0.25)');
  const limits = limitsFlags(sub, str);
  const tenantId = parsed.positionals[0];
  if (WITH_TENANT.includes(sub) && !tenantId) {
    throw new UsageError(`parl tenants ${sub} needs a tenant id (see parl tenants list)`);
  }
  return {
    sub,
    json: v.json === true,
    dataDir: dataDirOf(str('data-dir')),
    cap,
    ...(WITH_TENANT.includes(sub) ? { tenantId } : {}),
    ...(name === undefined ? {} : { name }),
    ...(budget === undefined ? {} : { budget }),
    ...(max === undefined ? {} : { max }),
    ...(annealJobs === undefined ? {} : { annealJobs }),
    ...(weights === undefined ? {} : { weights }),
    ...(limits === undefined ? {} : { limits }),
  };
}

function budgetFlag(sub: string, raw: string | undefined): number {
  const b = numberFlag('budget-usd', raw, 0, 1_000_000);
  if (b === undefined) throw new UsageError(`parl tenants ${sub} needs --budget-usd <dollars>`);
  return b;
}

/** `--max-subagents N` within 1..cap; required by set-max-subagents. */
function maxFlag(sub: string, raw: string | undefined, cap: number): number | undefined {
  if (raw === undefined) {
    if (sub === 'set-max-subagents') throw new UsageError(`parl tenants ${sub} needs --max-subagents N`);
    return undefined;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > cap) {
    throw new UsageError(`--max-subagents must be an integer from 1 to ${cap}, got "${raw}"`);
  }
  return n;
}

/** `parl tenants <command>`: on the running `parl serve` of the data directory, else on its files. */
export async function tenantsCommand(
  argv: string[],
  open: (dataDir: string) => Promise<LocalData> = openLocalData,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h' || rest.includes('--help')) {
    process.stdout.write(`${TENANTS_HELP}\n`);
    return 0;
  }
  const args = parseTenantsArgs(sub, rest);
  const data = await open(args.dataDir);
  const tenants = new DynamoTenantStore(data.doc, data.tableName);
  const out = (text: string, doc: unknown) =>
    process.stdout.write(`${args.json ? JSON.stringify(doc, null, 2) : text}\n`);
  try {
    await runTenants(tenants, args, out);
    return 0;
  } catch (error) {
    if (error instanceof ParlError && !(error instanceof UsageError)) {
      throw new UsageError(error.message, { cause: error });
    }
    throw error;
  } finally {
    await data.close();
  }
}

/** Every tenant, page by page. */
async function allTenants(tenants: DynamoTenantStore): Promise<Tenant[]> {
  const all: Tenant[] = [];
  let cursor: string | undefined;
  do {
    const page = await tenants.listTenants({ limit: 100, ...(cursor ? { cursor } : {}) });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** Does the command; prints its text (or with --json its document) through `out`. */
async function runTenants(
  tenants: DynamoTenantStore,
  args: TenantsArgs,
  out: (text: string, doc: unknown) => void,
): Promise<void> {
  const { cap } = args;
  const tenantId = args.tenantId as string;
  const updated = (t: Tenant) => out(tenantLine(t), publicTenant(t));
  switch (args.sub) {
    case 'create': {
      const { tenant, apiKey } = await createTenant(
        { tenants, maxSubagentsCap: cap },
        {
          name: args.name as string,
          budgetUsd: args.budget as number,
          maxSubagents: args.max ?? Math.min(100, cap),
          ...(args.annealJobs === undefined ? {} : { annealJobs: args.annealJobs }),
          ...(args.weights === undefined ? {} : { weights: args.weights }),
          ...args.limits,
        },
      );
      return out(
        `tenant ${tenant.tenantId} created (${tenant.name}, budget ${money(tenant.budgetUsd)}, max ${tenant.maxSubagents} sub-agents)\napi key: ${apiKey}\n(shown once: only its hash is stored)`,
        { tenantId: tenant.tenantId, apiKey },
      );
    }
    case 'list': {
      const all = await allTenants(tenants);
      return out(
        all.length
          ? all.map(tenantLine).join('\n')
          : 'no tenants yet (parl tenants create --name <n> --budget-usd <x>)',
        { tenants: all.map(publicTenant) },
      );
    }
    case 'set-budget': {
      const current = await tenants.getTenant(tenantId);
      if (!current) throw new UsageError(`no tenant ${tenantId}`);
      return updated(await tenants.adjustBudget(tenantId, (args.budget as number) - current.budgetUsd));
    }
    case 'set-max-subagents':
      return updated(await tenants.updateSettings(tenantId, { maxSubagents: args.max as number }));
    case 'set-weights':
      return updated(await tenants.updateSettings(tenantId, { weights: args.weights }));
    case 'set-limits':
      return updated(await tenants.updateSettings(tenantId, args.limits ?? {}));
    case 'set-anneal':
      return updated(await tenants.updateSettings(tenantId, { annealJobs: args.annealJobs as number }));
    case 'revoke':
      await tenants.revokeKey(tenantId);
      return out(`tenant ${tenantId}: key revoked`, { tenantId, status: 'REVOKED' });
    default: {
      const apiKey = await rotateApiKey({ tenants }, tenantId, { reactivate: args.sub === 'reactivate' });
      return out(`tenant ${tenantId}: new api key: ${apiKey}\n(shown once; the old key no longer works)`, {
        tenantId,
        apiKey,
      });
    }
  }
}
