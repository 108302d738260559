import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { startSimulator } from '#local/simulator/server';
import { createDynamoClient, createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { OpenAiLlm } from '#shared/adapters/llm/openai-llm';
import { LimiterTimeoutError } from '#shared/domain/errors';
import { pacingOf } from '#shared/domain/limiter-rules';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import { callStatsOf } from '#shared/ports/llm';
import { startKeyTable, useDynaliteTable } from './dynalite-table';
import { VirtualClock } from './virtual-clock';

const TABLE = 'Limits';

/** The DynamoDB limiter against dynalite: several instances play several Lambdas sharing one key. */
describe('DynamoRateLimiter', () => {
  const table = useDynaliteTable(() => startKeyTable(TABLE));
  let keyNo = 0;

  /** A fresh client per instance, as each Lambda has its own. */
  const documentClient = () =>
    createDynamoDocumentClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
  const policy = (
    over: Partial<LimiterPolicy['limits']>,
    rest: Partial<LimiterPolicy> = {},
  ): LimiterPolicy => ({
    limits: { maxConcurrency: 3, rpm: undefined, tpm: undefined, windowMs: 60_000, ...over },
    orchestratorShare: 0,
    leaseMs: 30_000,
    cooldownMs: 100,
    breakerFailures: 5,
    breakerOpenMs: 1_000,
    ...rest,
  });
  const limiters = (count: number, p: LimiterPolicy, maxWaitMs = 20_000) => {
    const pk = providerPartitionKey(`http://127.0.0.1/${++keyNo}/v1`, 'key');
    return Array.from(
      { length: count },
      () =>
        new DynamoRateLimiter({
          client: documentClient(),
          tableName: TABLE,
          pk,
          policy: p,
          maxWaitMs,
          pollMs: 10,
        }),
    );
  };

  it('never lets concurrent acquirers in several processes exceed the concurrency limit', async () => {
    // Prepare: 4 "Lambdas", 24 callers across 3 tenants, 3 slots.
    const instances = limiters(4, policy({ maxConcurrency: 3 }));
    let inFlight = 0;
    let maxInFlight = 0;
    // Act
    await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const limiter = instances[i % instances.length]!;
        const lease = await limiter.acquire({ role: 'subagent', tenantId: `t${i % 3}`, estimatedTokens: 10 });
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5 + (i % 4) * 5));
        inFlight -= 1;
        await limiter.release(lease, { kind: 'success', tokens: 10 });
      }),
    );
    // Assess
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(maxInFlight).toBeGreaterThanOrEqual(2);
    const { state } = await instances[0]!.snapshot();
    expect(Object.keys(state.leases)).toHaveLength(0);
    expect(state.totals.granted).toBe(24);
  });

  it('never grants more than RPM calls in one window across processes', async () => {
    // Prepare: 10 calls a 1 s window, 3 processes trying 25 calls as fast as they may, in virtual
    // time (a few ms of network each way), so the windows do not depend on this machine's speed.
    const clock = new VirtualClock(() => 3);
    const pk = providerPartitionKey(`http://127.0.0.1/${++keyNo}/v1`, 'key');
    const instances = [0, 1, 2].map(() => {
      const client = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
      clock.track(client);
      return new DynamoRateLimiter({
        client: DynamoDBDocumentClient.from(client),
        tableName: TABLE,
        pk,
        policy: policy({ maxConcurrency: 100, rpm: 10, windowMs: 1_000 }),
        maxWaitMs: 60_000,
        pollMs: 10,
        clock,
      });
    });
    const granted: number[] = [];
    // Act
    await clock.run(
      Promise.all(
        Array.from({ length: 25 }, async (_, i) => {
          const limiter = instances[i % 3]!;
          const lease = await limiter.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
          granted.push(clock.now());
          await limiter.release(lease, { kind: 'success', tokens: 1 });
        }),
      ),
    );
    // Assess: any 1 s span holds at most 10 grants (read a network delay after the write); 25
    // grants need three windows, so the last comes at least 2 s after the first.
    granted.sort((a, b) => a - b);
    for (const from of granted) {
      expect(granted.filter((t) => t >= from && t < from + 1_000 - 10).length).toBeLessThanOrEqual(10);
    }
    expect(granted).toHaveLength(25);
    expect(granted.at(-1)! - granted[0]!).toBeGreaterThanOrEqual(2_000);
  });

  it('gives a freed slot to a waiting tenant before the tenant that holds more than its fair share', async () => {
    // Prepare: tenant a holds all 4 slots; a and b (another "Lambda") each wait for one more.
    const [forA, forB] = limiters(2, policy({ maxConcurrency: 4 }));
    const held = await Promise.all(
      Array.from({ length: 4 }, () => forA!.acquire({ role: 'subagent', tenantId: 'a', estimatedTokens: 1 })),
    );
    const order: string[] = [];
    const waitA = forA!
      .acquire({ role: 'subagent', tenantId: 'a', estimatedTokens: 1 })
      .then((l) => order.push('a') && l);
    const waitB = forB!
      .acquire({ role: 'subagent', tenantId: 'b', estimatedTokens: 1 })
      .then((l) => order.push('b') && l);
    await new Promise((r) => setTimeout(r, 100));
    // Act: a gives one slot back, then another.
    await forA!.release(held[0]!, { kind: 'success', tokens: 1 });
    await waitB;
    const firstWinner = [...order];
    await forA!.release(held[1]!, { kind: 'success', tokens: 1 });
    await waitA;
    // Assess: b (holding none) got the first freed slot; a only got the second (fair share 2 of 4).
    expect(firstWinner).toEqual(['b']);
    expect(order).toEqual(['b', 'a']);
  });

  it.each([
    // Paced, 20 tickets at once are spaced by the RPM's interval (0.07 ms): 1.3 ms for the last.
    ['concurrency only', {}, 0],
    ['paced far below its RPM and TPM', { rpm: 1_000_000, tpm: 1_000_000_000 }, 2],
  ])(
    'waits for no free slot (%s): the round trips are limiterMs, not waitedMs',
    async (_name, limits, most) => {
      // Prepare: as many slots as callers
      const [limiter] = limiters(1, policy({ maxConcurrency: 20, ...limits }));
      // Act
      const leases = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          limiter!.acquire({ role: 'subagent', tenantId: `t${i % 3}`, estimatedTokens: 10 }),
        ),
      );
      // Assess
      expect(Math.max(...leases.map((l) => l.waitedMs))).toBeLessThanOrEqual(most);
      expect(leases.every((l) => l.limiterMs > 0)).toBe(true);
    },
  );

  it("takes the tickets of one process's callers asking at once in fewer updates of the clock, back to back", async () => {
    // Prepare: a paced key; a client that counts the clock's updates
    const inner = documentClient();
    let clockUpdates = 0;
    const counting = {
      send: (command: { input: { UpdateExpression?: string } }) => {
        if (command.input.UpdateExpression?.includes('tat =')) clockUpdates++;
        return inner.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const paced = policy({ maxConcurrency: 30, rpm: 600_000, windowMs: 60_000 });
    const limiter = new DynamoRateLimiter({
      client: counting,
      tableName: TABLE,
      pk: providerPartitionKey(`http://127.0.0.1/${++keyNo}/v1`, 'key'),
      policy: paced,
      maxWaitMs: 20_000,
      pollMs: 10,
    });
    // Act
    const leases = await Promise.all(
      Array.from({ length: 30 }, () =>
        limiter.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 }),
      ),
    );
    // Assess: every caller has its own ticket, spaced by a call's cost (about 0.1 ms), in few updates
    const { intervalMs } = pacingOf(paced.limits);
    const starts = leases
      .map((l) => (l as unknown as { ticket: { start: number } }).ticket.start)
      .sort((a, b) => a - b);
    expect(new Set(starts).size).toBe(30);
    for (let i = 1; i < starts.length; i++)
      expect((starts[i] ?? 0) - (starts[i - 1] ?? 0)).toBeGreaterThanOrEqual(intervalMs - 1e-9);
    expect(clockUpdates).toBeLessThan(30);
  });

  it('reclaims the lease of a holder that died, so nothing deadlocks', async () => {
    // Prepare: one slot; a "Lambda" takes it and dies without releasing.
    const [dead, alive] = limiters(2, policy({ maxConcurrency: 1 }, { leaseMs: 300 }));
    await dead!.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Act
    const lease = await alive!.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Assess: granted once the dead lease expired, not before (queued for it, apart from round trips).
    expect(lease.waitedMs).toBeGreaterThanOrEqual(250);
    expect(lease.waitedMs + lease.limiterMs).toBeGreaterThanOrEqual(300);
    const { state } = await alive!.snapshot();
    expect(Object.keys(state.leases)).toEqual([lease.id]);
  });

  it('gives up after the maximum wait with LimiterTimeoutError naming the reason', async () => {
    const [holder, waiter] = limiters(2, policy({ maxConcurrency: 1 }), 150);
    await holder!.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    const attempt = waiter!.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    await expect(attempt).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(attempt).rejects.toMatchObject({ reason: 'concurrency' });
  });

  it('stops calling a provider that keeps failing: the open circuit lets one probe at a time through', async () => {
    // Prepare: every call answers 500; 8 callers, 2 retries each, the circuit opens after 2 failures.
    const sim = await startSimulator({ latencyScale: 0, faults: [{ match: '', status: 500 }] });
    try {
      const [limiter] = limiters(
        1,
        policy({ maxConcurrency: 8 }, { breakerFailures: 2, breakerOpenMs: 200 }),
        1_000,
      );
      const provider = new OpenAiLlm({ baseUrl: sim.baseUrl, apiKey: 'k', model: 'kimi-k2.5' });
      const llm = new LimitedLlm(provider, limiter, {
        maxRetries: 2,
        backoffBaseMs: 5,
        backoffCapMs: 10,
        maxWaitMs: 1_000,
      });
      // Act
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          llm.chat({
            messages: [{ role: 'user', content: `question ${i}` }],
            caller: { role: 'subagent', tenantId: 't' },
          }),
        ),
      );
      // Assess: all failed, but far fewer than 8 × 3 calls reached the provider.
      expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
      expect(sim.stats().requests).toBeLessThan(8 * 3);
      expect(sim.stats().requests).toBeGreaterThanOrEqual(8);
      const { state } = await limiter!.snapshot();
      expect(state.breaker).not.toBe('closed');
      // Each caller's statistics: the calls that reached the provider and the attempts the open circuit refused.
      const stats = outcomes.map((o) => callStatsOf(o.status === 'rejected' ? o.reason : undefined));
      expect(stats.reduce((n, s) => n + (s?.calls ?? 0), 0)).toBe(sim.stats().requests);
      expect(stats.reduce((n, s) => n + (s?.circuitOpen ?? 0), 0)).toBeGreaterThan(0);
    } finally {
      await sim.close();
    }
  });

  it('keys the limiter by provider endpoint and key, never storing the key', () => {
    const a = providerPartitionKey('https://api.moonshot.ai/v1', 'sk-secret');
    expect(a).toMatch(/^PROVIDER#[0-9a-f]{16}$/);
    expect(a).not.toContain('secret');
    expect(providerPartitionKey('https://api.moonshot.ai/v1', 'sk-other')).not.toBe(a);
    expect(providerPartitionKey('https://api.moonshot.ai/v1', 'sk-secret')).toBe(a);
  });
});
