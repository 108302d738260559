/**
 * The API fuzzer: fast-check drives random sequences of requests, valid and hostile (bodies,
 * headers, keys, cursors, ids, cancels, bursts of concurrent submissions), from two tenants at
 * the REST API over HTTP on loopback (the local API Gateway in front of the embedded stack), and
 * checks after every answer and every sequence what must always hold:
 *
 * - no 5xx, ever
 * - every 4xx is the JSON error shape and names its cause: a 400 names the field, a 429 its limit
 *   (with Retry-After), every other one a known code
 * - a tenant never sees the other's job (404, as for no job)
 * - once no job runs: every accepted job has a terminal state, nothing is reserved, no job counts
 *   as active, and available + reserved + spent = budget for both tenants
 *
 * Used by the `fuzz` test (fixed seed, few runs) and `npm run bench -- --suite fuzz` (many runs).
 */
import fc from 'fast-check';
import type { EmbeddedStack } from '#local/runtime';
import { usd } from '#shared/domain/tenant';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import { createTenant } from '#shared/use-cases/tenants';

/** One request of a sequence, from tenant 0 or 1 (or with a bad key). */
export type FuzzRequest =
  | { kind: 'submit'; who: 0 | 1; body: unknown; key?: string }
  | { kind: 'raw'; who: 0 | 1; method: string; path: string; body?: string; contentType?: string }
  | { kind: 'burst'; who: 0 | 1; count: number }
  | { kind: 'get' | 'steps' | 'cancel'; who: 0 | 1; target: 'own' | 'other' | string }
  | { kind: 'list'; who: 0 | 1; query: string }
  | { kind: 'badKey'; key: string };

/** Codes a 4xx other than 400 and 429 may carry: each says its cause. */
const KNOWN_CODES = new Set([
  'unauthorized',
  'forbidden',
  'not_found',
  'route_not_found',
  'method_not_allowed',
  'budget_exceeded',
  'idempotency_conflict',
  'conflict',
  'payload_too_large',
]);

const prompts = fc.array(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 3 });
const validJob = fc.record({ task: fc.string({ minLength: 1, maxLength: 60 }), subtasks: prompts });

/** Bodies that are wrong in the ways a client gets them wrong, or an attacker tries. */
const hostileJob: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.record({ task: fc.constantFrom('', ' ', '\ud800', 'x'.repeat(20_000)), subtasks: prompts }),
  fc.record({
    task: fc.string(),
    subtasks: fc.oneof(fc.jsonValue(), fc.array(fc.jsonValue(), { maxLength: 4 })),
  }),
  fc.record({ task: fc.string(), maxSubagents: fc.oneof(fc.integer(), fc.double(), fc.string()) }),
  fc.record({ task: fc.constant('t'), subtasks: prompts, mode: fc.string(), workload: fc.string() }),
  fc.record({
    task: fc.constant('t'),
    subtasks: prompts,
    dataset: fc.oneof(
      fc.jsonValue(),
      fc.constant({ k: [{ id: '1' }, { id: '1' }] }),
      fc.constant({ k: [{ id: 'x'.repeat(2000) }] }),
    ),
  }),
  fc.record({ task: fc.constant('t'), subtasks: prompts, tenantId: fc.string() }),
);

const jobTarget = fc.oneof(
  fc.constantFrom('own', 'other'),
  fc.string({ maxLength: 80 }),
  fc.constantFrom('..', '%2e%2e', 'a/b', 'x'.repeat(100), '%00'),
);
const cursor = fc.oneof(
  fc.string(),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc.constant(Buffer.from(JSON.stringify({ gsi1pk: 'TENANT#x' })).toString('base64url')),
);
const who = fc.constantFrom(0 as const, 1 as const);

/** A request of a sequence. */
export const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('submit' as const), who, body: validJob }), weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('submit' as const),
      who,
      body: validJob,
      key: fc.constantFrom('k1', 'k2', 'bad key!', ''),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('submit' as const), who, body: hostileJob }), weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('raw' as const),
      who,
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      path: fc.constantFrom('/v1/jobs', '/v1/usage', '/v1/policy', '/v1/nope', '/v1/jobs/x/steps', '/'),
      body: fc.option(fc.oneof(fc.string(), fc.constant('{"task":'), fc.constant('[]')), { nil: undefined }),
      contentType: fc.option(
        fc.constantFrom('text/plain', 'application/json', 'application/x-www-form-urlencoded'),
        {
          nil: undefined,
        },
      ),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('burst' as const), who, count: fc.integer({ min: 2, max: 8 }) }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constantFrom('get' as const, 'steps' as const, 'cancel' as const),
      who,
      target: jobTarget,
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('list' as const),
      who,
      query: fc.oneof(
        cursor.map((c) => `/v1/jobs?cursor=${encodeURIComponent(c)}`),
        fc.string().map((l) => `/v1/jobs?limit=${encodeURIComponent(l)}`),
        fc.string().map((p) => `/v1/usage?period=${encodeURIComponent(p)}`),
        fc.string().map((t) => `/v1/policy?taskClass=${encodeURIComponent(t)}`),
        cursor.map((c) => `/v1/jobs/own/steps?cursor=${encodeURIComponent(c)}`),
      ),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('badKey' as const),
      key: fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.constant('parl_t-000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
      ),
    }),
    weight: 1,
  },
);

/** One tenant of a sequence: its key, its id, its budget and the jobs the API accepted for it. */
interface FuzzTenant {
  tenantId: string;
  apiKey: string;
  budgetUsd: number;
  accepted: Set<string>;
}

/** What one sequence did: its answers by status, and the first property it broke (if any). */
export interface SequenceOutcome {
  requests: number;
  statuses: Record<string, number>;
}

/** What the fuzzer needs of the stack: its tenants and jobs, and the API's URL. */
export interface FuzzTarget {
  stack: EmbeddedStack;
  url: string;
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { jobId?: string; error?: { code?: string; message?: string; details?: Record<string, unknown> } };
}

async function send(
  target: FuzzTarget,
  method: string,
  path: string,
  opts: { key?: string | undefined; body?: string | undefined; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(`${target.url}${path}`, {
    method,
    headers: { ...(opts.key !== undefined ? { 'x-api-key': opts.key } : {}), ...opts.headers },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const text = await res.text();
  let body: Answer['body'] = {};
  try {
    body = text ? (JSON.parse(text) as Answer['body']) : {};
  } catch {
    throw new Error(
      `${method} ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`,
    );
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

/** Checks one answer: no 5xx, and a 4xx that names its field, limit or cause. */
export function checkAnswer(what: string, a: Answer): void {
  if (a.status >= 500) throw new Error(`${what} answered ${a.status}: ${JSON.stringify(a.body)}`);
  if (a.status < 400) return;
  const error = a.body.error;
  if (!error?.code || !error.message)
    throw new Error(`${what} answered ${a.status} without an error code and message`);
  if (a.status === 400 && !(typeof error.details?.field === 'string' && error.details.field !== '')) {
    throw new Error(`${what} answered 400 without naming the field: ${JSON.stringify(error)}`);
  }
  if (a.status === 429 && !(a.retryAfter && typeof error.details?.limit === 'string')) {
    throw new Error(`${what} answered 429 without Retry-After or the limit's name: ${JSON.stringify(error)}`);
  }
  if (a.status !== 400 && a.status !== 429 && !KNOWN_CODES.has(error.code)) {
    throw new Error(`${what} answered ${a.status} with an unknown code ${error.code}`);
  }
}

/** The path of a job request aimed at `target` ('own' and 'other' pick an accepted job). */
function jobPath(
  tenants: FuzzTenant[],
  who: 0 | 1,
  target: string,
  suffix: string,
): { path: string; other?: string } {
  const pick = (t: FuzzTenant) => [...t.accepted][0];
  if (target === 'own' || target === 'other') {
    const id = pick(target === 'own' ? tenants[who]! : tenants[1 - who]!);
    if (id === undefined) return { path: `/v1/jobs/none${suffix}` };
    return { path: `/v1/jobs/${id}${suffix}`, ...(target === 'other' ? { other: id } : {}) };
  }
  return { path: `/v1/jobs/${encodeURIComponent(target)}${suffix}` };
}

/** Sends one request of a sequence and checks its answers. */
async function play(
  target: FuzzTarget,
  tenants: FuzzTenant[],
  r: FuzzRequest,
  out: SequenceOutcome,
): Promise<void> {
  const answers: Answer[] = [];
  const record = (what: string, a: Answer, t?: FuzzTenant) => {
    checkAnswer(what, a);
    out.requests++;
    out.statuses[a.status] = (out.statuses[a.status] ?? 0) + 1;
    if (t && a.status === 202 && a.body.jobId) t.accepted.add(a.body.jobId);
    answers.push(a);
  };
  const json = { 'content-type': 'application/json' };
  switch (r.kind) {
    case 'submit': {
      const t = tenants[r.who]!;
      const headers = { ...json, ...(r.key !== undefined ? { 'idempotency-key': r.key } : {}) };
      record(
        'POST /v1/jobs',
        await send(target, 'POST', '/v1/jobs', { key: t.apiKey, body: JSON.stringify(r.body), headers }),
        t,
      );
      return;
    }
    case 'burst': {
      const t = tenants[r.who]!;
      const body = JSON.stringify({ task: 'burst', subtasks: ['a', 'b'] });
      const all = await Promise.all(
        Array.from({ length: r.count }, () =>
          send(target, 'POST', '/v1/jobs', { key: t.apiKey, body, headers: json }),
        ),
      );
      for (const a of all) record('POST /v1/jobs (burst)', a, t);
      return;
    }
    case 'raw': {
      const t = tenants[r.who]!;
      const headers: Record<string, string> = r.contentType ? { 'content-type': r.contentType } : {};
      record(
        `${r.method} ${r.path}`,
        await send(target, r.method, r.path, {
          key: t.apiKey,
          body: r.method === 'GET' ? undefined : r.body,
          headers,
        }),
        t,
      );
      return;
    }
    case 'get':
    case 'steps':
    case 'cancel': {
      const t = tenants[r.who]!;
      const suffix = r.kind === 'steps' ? '/steps' : r.kind === 'cancel' ? '/cancel' : '';
      const { path, other } = jobPath(tenants, r.who, r.target, suffix);
      const a = await send(target, r.kind === 'cancel' ? 'POST' : 'GET', path, { key: t.apiKey });
      record(`${r.kind} ${path}`, a, t);
      if (other !== undefined && a.status !== 404 && a.status !== 429) {
        throw new Error(`tenant ${r.who} reached the other tenant's job ${other}: ${a.status}`);
      }
      return;
    }
    case 'list': {
      const t = tenants[r.who]!;
      const path = r.query.replace('/jobs/own/', `/jobs/${[...t.accepted][0] ?? 'none'}/`);
      record(`GET ${path}`, await send(target, 'GET', path, { key: t.apiKey }), t);
      return;
    }
    case 'badKey': {
      const a = await send(target, 'GET', '/v1/jobs', { key: r.key });
      record('GET /v1/jobs (bad key)', a);
      if (a.status !== 401 && a.status !== 403) throw new Error(`a bad key got ${a.status}`);
      return;
    }
  }
}

/** Waits until none of the tenants' jobs is ACCEPTED or RUNNING (at most `maxWaitMs`). */
async function untilIdle(target: FuzzTarget, tenants: FuzzTenant[], maxWaitMs: number): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  for (const t of tenants) {
    for (const jobId of t.accepted) {
      for (;;) {
        const job = await target.stack.store.getJob({ tenantId: t.tenantId, jobId });
        if (!job) throw new Error(`accepted job ${jobId} does not exist`);
        if (TERMINAL_STATUSES.includes(job.status)) break;
        if (Date.now() > deadline)
          throw new Error(`job ${jobId} is still ${job.status} after ${maxWaitMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

/** Checks the money of each tenant once no job runs: nothing held, nothing lost. */
async function checkMoney(target: FuzzTarget, tenants: FuzzTenant[]): Promise<void> {
  for (const t of tenants) {
    const now = await target.stack.tenants.getTenant(t.tenantId);
    if (!now) throw new Error(`tenant ${t.tenantId} is gone`);
    const sum = usd(now.availableUsd + now.reservedUsd + now.spentUsd);
    if (Math.abs(sum - t.budgetUsd) > 1e-6 || now.budgetUsd !== t.budgetUsd) {
      throw new Error(`tenant ${t.tenantId}: available + reserved + spent = ${sum}, budget ${t.budgetUsd}`);
    }
    if (now.reservedUsd !== 0)
      throw new Error(`tenant ${t.tenantId} holds $${now.reservedUsd} with no job running`);
    if (now.availableUsd < 0) throw new Error(`tenant ${t.tenantId} is below zero: $${now.availableUsd}`);
    if ((now.activeJobs ?? 0) !== 0)
      throw new Error(`tenant ${t.tenantId} counts ${now.activeJobs} active jobs with none running`);
  }
}

/**
 * Plays one sequence from two new tenants (one roomy, one with a small budget and low limits)
 * and checks every property; throws at the first one broken.
 */
export async function playSequence(
  target: FuzzTarget,
  requests: readonly FuzzRequest[],
): Promise<SequenceOutcome> {
  const make = async (
    budgetUsd: number,
    limits: { requestsPerSecond: number; maxConcurrentJobs: number },
  ) => {
    const { tenant, apiKey } = await createTenant(
      { tenants: target.stack.tenants, maxSubagentsCap: 1000 },
      { name: 'Fuzz', budgetUsd, maxSubagents: 10, ...limits },
    );
    return { tenantId: tenant.tenantId, apiKey, budgetUsd: tenant.budgetUsd, accepted: new Set<string>() };
  };
  const tenants = [
    await make(1, { requestsPerSecond: 1000, maxConcurrentJobs: 4 }),
    await make(0.02, { requestsPerSecond: 4, maxConcurrentJobs: 2 }),
  ];
  const out: SequenceOutcome = { requests: 0, statuses: {} };
  for (const r of requests) await play(target, tenants, r, out);
  await untilIdle(target, tenants, 120_000);
  await checkMoney(target, tenants);
  return out;
}

/** The sequences: 1 to `maxLength` requests each. */
export const fuzzSequence = (maxLength: number) => fc.array(fuzzRequest, { minLength: 1, maxLength });
