import { ThrottlingException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { CircuitOpenError, LimiterTimeoutError } from '#shared/domain/errors';
import { pacingOf } from '#shared/domain/limiter-rules';
import type { CallerRole, LimiterPolicy, ProviderLimits } from '#shared/domain/provider-limits';
import { maxPerWindow } from '../unit/limiter-fixtures';
import { startKeyTable, useDynaliteTable } from './dynalite-table';
import { VirtualClock } from './virtual-clock';

const TABLE = 'LimiterProperties';
const WINDOW_MS = 6_000;
const MAX_NETWORK_MS = 20;

interface Call {
  role: CallerRole;
  tenant: string;
  tokens: number;
  pauseMs: number;
  durationMs: number;
  outcome: 'success' | 'rate-limited' | 'failure' | 'die';
  retryAfterMs: number | undefined;
}

const callArb: fc.Arbitrary<Call> = fc.record({
  role: fc.constantFrom<CallerRole>('subagent', 'subagent', 'subagent', 'orchestrator'),
  tenant: fc.constantFrom('a', 'b', 'c'),
  tokens: fc.integer({ min: 1, max: 100 }),
  pauseMs: fc.integer({ min: 0, max: 3_000 }),
  durationMs: fc.integer({ min: 10, max: 3_000 }),
  outcome: fc.constantFrom<Call['outcome']>(
    'success',
    'success',
    'success',
    'success',
    'rate-limited',
    'failure',
    'die',
  ),
  retryAfterMs: fc.option(fc.integer({ min: 1_000, max: 3_000 }), { nil: undefined }),
});

const scenarioArb = fc.record({
  maxConcurrency: fc.integer({ min: 1, max: 4 }),
  rpm: fc.option(fc.integer({ min: 2, max: 20 }), { nil: undefined }),
  // At least 20,000: every call (≤ 100 tokens) stays within 0.5 % of the TPM.
  tpm: fc.option(fc.integer({ min: 20_000, max: 60_000 }), { nil: undefined }),
  orchestratorShare: fc.constantFrom(0, 0.25, 0.5),
  clients: fc.array(fc.array(callArb, { minLength: 1, maxLength: 5 }), { minLength: 2, maxLength: 6 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  // Clients share a process (one limiter, its requests grouped) round-robin; the slots of an item.
  processes: fc.integer({ min: 1, max: 3 }),
  slotsPerItem: fc.constantFrom(1, 3, 25),
});

/** The most intervals open at once. */
function maxOverlap(intervals: readonly { from: number; to: number }[]): number {
  const edges = intervals.flatMap((i) => [
    { at: i.from, d: 1 },
    { at: i.to, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let open = 0;
  let best = 0;
  for (const e of edges) {
    open += e.d;
    best = Math.max(best, open);
  }
  return best;
}

/** A small seeded generator (mulberry32), so a failing case replays with its network delays. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the limiter under random interleavings (dynalite, virtual time)', () => {
  const table = useDynaliteTable(() => startKeyTable(TABLE));
  let keyNo = 0;

  /** A DynamoDB client of its own (one "Lambda"), on the virtual clock; `tap` sees each request first. */
  const documentClient = (clock?: VirtualClock, tap?: (command: string) => void) => {
    const client = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
    clock?.track(client);
    if (tap)
      client.middlewareStack.add(
        (next, context) => (args) => {
          tap(context.commandName ?? '');
          return next(args);
        },
        { step: 'initialize', name: 'tap' },
      );
    return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  };
  const limiterOn = (
    clock: VirtualClock,
    pk: string,
    limits: Partial<ProviderLimits>,
    over: { orchestratorShare?: number; maxWaitMs?: number; tap?: (command: string) => void } = {},
  ) =>
    new DynamoRateLimiter({
      client: documentClient(clock, over.tap),
      tableName: TABLE,
      pk,
      policy: {
        limits: { maxConcurrency: 10, rpm: undefined, tpm: undefined, windowMs: WINDOW_MS, ...limits },
        orchestratorShare: over.orchestratorShare ?? 0,
        leaseMs: 30_000,
        cooldownMs: 1_000,
        breakerFailures: 3,
        breakerOpenMs: 2_000,
      },
      maxWaitMs: over.maxWaitMs ?? 600_000,
      pollMs: 250,
      clock,
    });
  const newKey = () => providerPartitionKey(`http://127.0.0.1/virtual/${++keyNo}`, 'key');

  it('never goes above the concurrency, the RPM or the TPM, and honours every cooldown', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        // Prepare: one limiter per process, each with its own DynamoDB client (a process of one
        // client is a Lambda; of more, the embedded stack's one process for many callers).
        const random = seeded(s.seed);
        const clock = new VirtualClock(() => random() * MAX_NETWORK_MS);
        const limits: ProviderLimits = {
          maxConcurrency: s.maxConcurrency,
          rpm: s.rpm,
          tpm: s.tpm,
          windowMs: WINDOW_MS,
        };
        const policy: LimiterPolicy = {
          limits,
          orchestratorShare: s.orchestratorShare,
          leaseMs: 5_000,
          cooldownMs: 1_000,
          breakerFailures: 3,
          breakerOpenMs: 2_000,
        };
        const pk = providerPartitionKey(`http://127.0.0.1/property/${++keyNo}`, 'key');
        const calls: { from: number; to: number; tokens: number }[] = [];
        const cooldowns: { from: number; until: number }[] = [];
        const timeouts: unknown[] = [];
        const limiters = Array.from(
          { length: s.processes },
          () =>
            new DynamoRateLimiter({
              client: documentClient(clock),
              tableName: TABLE,
              pk,
              policy,
              maxWaitMs: 3_600_000,
              pollMs: 250,
              clock,
              random,
              slotsPerItem: s.slotsPerItem,
            }),
        );
        const client = async (script: Call[], i: number) => {
          const limiter = limiters[i % s.processes] as DynamoRateLimiter;
          for (const call of script) {
            await clock.sleep(call.pauseMs);
            let lease: Awaited<ReturnType<DynamoRateLimiter['acquire']>>;
            try {
              lease = await limiter.acquire({
                role: call.role,
                tenantId: call.tenant,
                estimatedTokens: call.tokens,
              });
            } catch (error) {
              if (!(error instanceof CircuitOpenError)) timeouts.push(error);
              continue;
            }
            const from = clock.now();
            await clock.sleep(call.durationMs);
            calls.push({ from, to: clock.now(), tokens: call.tokens });
            if (call.outcome === 'die') return; // never released: the lease must expire
            const releasedAt = clock.now();
            if (call.outcome === 'rate-limited') {
              cooldowns.push({
                from: releasedAt,
                until: releasedAt + (call.retryAfterMs ?? policy.cooldownMs),
              });
              await limiter.release(lease, { kind: 'rate-limited', retryAfterMs: call.retryAfterMs });
            } else if (call.outcome === 'failure') await limiter.release(lease, { kind: 'failure' });
            else await limiter.release(lease, { kind: 'success', tokens: call.tokens });
          }
        };
        // Act
        await clock.run(Promise.all(s.clients.map((script, i) => client(script, i))), 3_600_000);
        // Assess
        expect(timeouts).toEqual([]);
        expect(maxOverlap(calls)).toBeLessThanOrEqual(s.maxConcurrency);
        const starts = calls.map((c) => ({ at: c.from, weight: 1 }));
        if (s.rpm !== undefined) expect(maxPerWindow(starts, WINDOW_MS)).toBeLessThanOrEqual(s.rpm);
        const tokens = calls.map((c) => ({ at: c.from, weight: c.tokens }));
        if (s.tpm !== undefined) expect(maxPerWindow(tokens, WINDOW_MS)).toBeLessThanOrEqual(s.tpm);
        // A call already past its last check when the 429 was recorded may still go: allow the
        // round trips of recording it, the lead and the lateness; none later within the cooldown.
        const settle = 12 * 2 * MAX_NETWORK_MS + 100 + pacingOf(limits).lateMs;
        for (const c of cooldowns)
          expect(calls.filter((x) => x.from >= c.from + settle && x.from < c.until)).toEqual([]);
      }),
      { numRuns: 30 },
    );
  }, 300_000);

  it('puts an orchestrator ahead of the sub-agents queued for the RPM', async () => {
    // Prepare: 12 sub-agents queue at 6 calls a window (one a second); the orchestrator asks 1 s later.
    const clock = new VirtualClock(() => 5);
    const pk = newKey();
    const limits = { maxConcurrency: 20, rpm: 6 };
    const granted: { role: string; at: number }[] = [];
    const call = async (role: CallerRole, after: number) => {
      const limiter = limiterOn(clock, pk, limits, { orchestratorShare: 0.1 });
      await clock.sleep(after);
      const asked = clock.now();
      const lease = await limiter.acquire({ role, tenantId: 't', estimatedTokens: 10 });
      granted.push({ role, at: clock.now() - asked });
      await limiter.release(lease, { kind: 'success', tokens: 10 });
    };
    // Act
    await clock.run(
      Promise.all([...Array.from({ length: 12 }, () => call('subagent', 0)), call('orchestrator', 1_000)]),
    );
    // Assess: it waited about one interval and its lead, not for the queue; most sub-agents went after it.
    const interval = pacingOf({ ...limits, tpm: undefined, windowMs: WINDOW_MS }).intervalMs;
    const orchestrator = granted.find((g) => g.role === 'orchestrator')!;
    expect(orchestrator.at).toBeLessThan(interval + 1_500);
    expect(granted.findIndex((g) => g.role === 'orchestrator')).toBeLessThan(4);
  });

  it('waits while the table throttles its requests, and names it when that outlasts the wait', async () => {
    // Prepare: the table throttles the first three requests of one limiter and every request of another.
    const clock = new VirtualClock(() => 5);
    const pk = newKey();
    const throttle = (count: number) => {
      let seen = 0;
      return (command: string) => {
        if (seen++ < count)
          throw new ThrottlingException({ message: `${command}: rate exceeded`, $metadata: {} });
      };
    };
    const patient = limiterOn(clock, pk, { rpm: 60 }, { tap: throttle(3) });
    const hopeless = limiterOn(
      clock,
      pk,
      { rpm: 60 },
      { tap: throttle(Number.POSITIVE_INFINITY), maxWaitMs: 10_000 },
    );
    // Act
    const lease = await clock.run(patient.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 }));
    const failed = clock.run(hopeless.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 }));
    // Assess: three backoffs from 250 ms (jittered to half at least), then granted: the table's
    // time, so the limiter's (limiterMs), not a wait for a slot or a rate window (waitedMs).
    expect(lease.limiterMs).toBeGreaterThanOrEqual((250 + 500 + 1_000) / 2);
    await expect(failed).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(failed).rejects.toMatchObject({ reason: 'throttled' });
  });

  it.each([
    // [maxConcurrency, orchestratorShare, sub-agent slots: the limit less floor(limit × share), at least 1 kept]
    [1, 0, 1],
    [3, 0, 3],
    [4, 0.5, 2],
    [10, 0.2, 8],
  ])(
    'lets exactly the sub-agent slots in at once (%i in flight, orchestrator share %d: %i), never one more',
    async (maxConcurrency, orchestratorShare, slots) => {
      // Prepare: three "Lambdas" on one key; sub-agents of three tenants take the slots one by one
      const clock = new VirtualClock(() => 3);
      const pk = newKey();
      const lambdas = [0, 1, 2].map(() =>
        limiterOn(clock, pk, { maxConcurrency }, { orchestratorShare, maxWaitMs: 10_000 }),
      );
      const take = (i: number) =>
        lambdas[i % 3]!.acquire({ role: 'subagent', tenantId: `t${i % 3}`, estimatedTokens: 1 });
      const held = [];
      for (let i = 0; i < slots; i++) held.push(await clock.run(take(i)));
      // Act: one more sub-agent asks while every slot is held, then once one is given back
      const free = await clock.run(lambdas[1]!.freeSlots());
      const oneMore = clock.run(take(slots)).then(
        () => 'granted',
        (error: unknown) => error,
      );
      const refused = await oneMore;
      await clock.run(lambdas[0]!.release(held[0]!, { kind: 'success', tokens: 1 }));
      const afterRelease = await clock.run(take(slots + 1));
      const { state } = await clock.run(lambdas[2]!.snapshot());
      // Assess
      expect(free).toBe(0);
      expect(refused).toBeInstanceOf(LimiterTimeoutError);
      expect(afterRelease.id).toEqual(expect.any(String));
      expect(Object.keys(state.leases)).toHaveLength(slots);
    },
  );

  it('tells how many more sub-agent calls the slots take', async () => {
    // Prepare: 10 slots, 2 reserved for orchestrators; 3 sub-agents and an orchestrator hold one each.
    const clock = new VirtualClock();
    const limiter = limiterOn(clock, newKey(), { maxConcurrency: 10 }, { orchestratorShare: 0.2 });
    const take = (role: CallerRole) => limiter.acquire({ role, tenantId: 't', estimatedTokens: 1 });
    const subs = await clock.run(Promise.all([take('subagent'), take('subagent'), take('subagent')]));
    await clock.run(take('orchestrator'));
    // Act
    const free = await clock.run(limiter.freeSlots());
    await clock.run(limiter.release(subs[0]!, { kind: 'success', tokens: 1 }));
    const afterRelease = await clock.run(limiter.freeSlots());
    // Assess
    expect([free, afterRelease]).toEqual([5, 6]);
  });

  it.each([
    ['many callers queue for the RPM', { maxConcurrency: 50, rpm: 60, tpm: 1_000_000 }, 40],
    ['few callers and an idle clock', { maxConcurrency: 50, rpm: 6_000, tpm: undefined }, 5],
  ])('costs at most 4 writes and 2 reads per call when %s', async (_, limits, clients) => {
    // Prepare: count each client's requests to the table.
    const clock = new VirtualClock(() => 5);
    const pk = newKey();
    const counts = { reads: 0, writes: 0 };
    const tap = (command: string) => {
      if (command === 'GetItemCommand' || command === 'QueryCommand') counts.reads += 1;
      else counts.writes += 1;
    };
    const random = seeded(clients);
    let calls = 0;
    const client = async () => {
      const limiter = limiterOn(clock, pk, limits, { tap });
      for (let i = 0; i < 3; i++) {
        const lease = await limiter.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 100 });
        await clock.sleep(200 + random() * 400);
        await limiter.release(lease, { kind: 'success', tokens: 80 });
        calls += 1;
      }
    };
    // Act
    await clock.run(Promise.all(Array.from({ length: clients }, client)));
    // Assess
    expect(calls).toBe(3 * clients);
    expect(counts.writes / calls).toBeLessThanOrEqual(4);
    expect(counts.reads / calls).toBeLessThanOrEqual(2);
  });
});
