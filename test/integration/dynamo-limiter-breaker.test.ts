import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoClient, createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import type { LimiterClock } from '#shared/adapters/dynamo/limiter-items';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { CircuitOpenError, LimiterTimeoutError } from '#shared/domain/errors';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { startKeyTable, useDynaliteTable } from './dynalite-table';
import { VirtualClock } from './virtual-clock';

const TABLE = 'Limits';

/**
 * The circuit breaker of the DynamoDB limiter against dynalite: how a circuit opens, lets one
 * probe through once its time has passed, and closes or opens again on the probe's answer, read
 * from the control item the callers share.
 */
describe('DynamoRateLimiter circuit breaker', () => {
  const table = useDynaliteTable(() => startKeyTable(TABLE));
  let keyNo = 0;

  const policy: LimiterPolicy = {
    limits: { maxConcurrency: 2, rpm: undefined, tpm: undefined, windowMs: 60_000 },
    orchestratorShare: 0,
    leaseMs: 30_000,
    cooldownMs: 100,
    breakerFailures: 1,
    breakerOpenMs: 1_000,
  };
  /** The lists every write that creates the control item sets. */
  const emptyLists = { waiters: {}, shifts: [], shiftEpoch: 0, cooldownUntil: 0, lastDecreaseAt: 0 };
  const freshKey = () => providerPartitionKey(`http://127.0.0.1/breaker/${++keyNo}/v1`, 'key');

  /**
   * A limiter of its own (as another Lambda: nothing seen yet), on a client that fails after a few
   * hundred requests, so a limiter that loops without end fails the test at once; no jitter.
   */
  const limiter = (
    pk: string,
    clock: LimiterClock,
    p: LimiterPolicy = policy,
    maxWaitMs = 5_000,
    inner = createDynamoDocumentClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint }),
  ) => {
    let sent = 0;
    const bounded = {
      send: (command: never) => {
        if (++sent > 300) throw new Error('runaway: more than 300 requests for one test');
        return inner.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    return new DynamoRateLimiter({
      client: bounded,
      tableName: TABLE,
      pk,
      policy: p,
      maxWaitMs,
      pollMs: 10,
      clock,
      random: () => 0.5,
    });
  };
  const rateItem = async (pk: string) =>
    (
      await table.doc.send(
        new GetCommand({ TableName: TABLE, Key: { pk, sk: 'RATE' }, ConsistentRead: true }),
      )
    ).Item;
  /** A circuit that a failure opened at `clock`'s now, `breakerOpenMs` ago once the clock moved on. */
  const openedCircuit = async (clock: SteppingClock) => {
    const pk = freshKey();
    const first = limiter(pk, clock);
    const lease = await first.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    await first.release(lease, { kind: 'failure', reason: 'boom' });
    return pk;
  };

  it('refuses a caller of another process while the circuit is open, naming the failure that opened it', async () => {
    // Prepare
    const clock = new SteppingClock();
    const pk = await openedCircuit(clock);
    clock.t += 400;
    // Act
    const attempt = limiter(pk, clock).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(attempt).rejects.toMatchObject({
      reopensInMs: 600,
      message: expect.stringContaining('boom'),
    });
  });

  it('says the cause is unknown when the open circuit did not keep what opened it', async () => {
    // Prepare: a control item that opened the circuit without a reason
    const clock = new SteppingClock();
    const pk = freshKey();
    await table.doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: { pk, sk: 'RATE', breaker: 'open', openedAt: T0, failures: 1, ...emptyLists },
      }),
    );
    // Act
    const attempt = limiter(pk, clock).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Assess
    await expect(attempt).rejects.toThrow(/kept failing \(cause unknown\)/);
  });

  it('makes the first caller after the open time the probe: the circuit goes half-open, holding its lease', async () => {
    // Prepare
    const clock = new SteppingClock();
    const pk = await openedCircuit(clock);
    clock.t += policy.breakerOpenMs;
    const probeAt = clock.t;
    const probing = limiter(pk, clock);
    // Act
    const lease = await probing.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Assess
    const item = await rateItem(pk);
    expect(item).toMatchObject({
      breaker: 'half-open',
      probe: { id: lease.id, expiresAt: probeAt + policy.leaseMs },
    });
    const { state } = await probing.snapshot();
    expect(state.breaker).toBe('half-open');
    expect(state.probe).toEqual({ id: lease.id, expiresAt: probeAt + policy.leaseMs });
  });

  it('takes no lease ahead while the circuit is half-open: the probe is left to a caller that calls', async () => {
    // Prepare: the open time has passed, nobody probes yet
    const clock = new SteppingClock();
    const pk = await openedCircuit(clock);
    clock.t += policy.breakerOpenMs;
    const caller = { role: 'subagent', tenantId: 't', estimatedTokens: 1 } as const;
    // Act
    const reserved = await limiter(pk, clock).reserve(caller, 2, 500);
    const lease = await limiter(pk, clock).acquire(caller);
    // Assess: none reserved, no probe taken by the reservation; the caller after it is the probe
    expect(reserved).toEqual([]);
    expect(await rateItem(pk)).toMatchObject({ breaker: 'half-open', probe: { id: lease.id } });
  });

  it.each([
    ['succeeds', { kind: 'success', tokens: 1 }],
    ['is refused (the provider answered)', { kind: 'rejected' }],
    ['is answered 429 (the provider answered)', { kind: 'rate-limited', retryAfterMs: 50 }],
  ] as const)('closes the circuit and clears the failures when the probe %s', async (_name, outcome) => {
    // Prepare
    const clock = new SteppingClock();
    const pk = await openedCircuit(clock);
    clock.t += policy.breakerOpenMs;
    const probing = limiter(pk, clock);
    const lease = await probing.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Act
    await probing.release(lease, outcome);
    // Assess
    const item = await rateItem(pk);
    expect(item).toMatchObject({ breaker: 'closed', failures: 0 });
    expect(item).not.toHaveProperty('probe');
    const next = await limiter(pk, clock).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    expect(next.id).not.toBe(lease.id);
  });

  it('opens the circuit again, from the probe failure on, when the probe fails', async () => {
    // Prepare
    const clock = new SteppingClock();
    const pk = await openedCircuit(clock);
    clock.t += policy.breakerOpenMs;
    const probing = limiter(pk, clock);
    const lease = await probing.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    clock.t += 50;
    // Act
    await probing.release(lease, { kind: 'failure', reason: 'still down' });
    // Assess
    const item = await rateItem(pk);
    expect(item).toMatchObject({ breaker: 'open', openedAt: clock.t, openedBy: 'still down' });
    expect(item).not.toHaveProperty('probe');
  });

  it('holds every other caller back while the probe is out, until its maximum wait', async () => {
    // Prepare
    const clock = new SteppingClock();
    const pk = await openedCircuit(clock);
    clock.t += policy.breakerOpenMs;
    const probe = await limiter(pk, clock).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Act
    const attempt = limiter(pk, clock, policy, 500).acquire({
      role: 'subagent',
      tenantId: 't',
      estimatedTokens: 1,
    });
    // Assess: it waited for the probe, which it neither replaced nor went beside
    await expect(attempt).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(attempt).rejects.toMatchObject({ reason: 'probing' });
    expect((await rateItem(pk))?.probe).toMatchObject({ id: probe.id });
  });

  it('lets another caller take over a probe that expired without an answer', async () => {
    // Prepare: the probe's process died holding it
    const clock = new SteppingClock();
    const pk = await openedCircuit(clock);
    clock.t += policy.breakerOpenMs;
    const lost = await limiter(pk, clock).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // 1 ms past the lease: one ending exactly now is over for decideSlot but not yet for a claim
    clock.t += policy.leaseMs + 1;
    // Act
    const lease = await limiter(pk, clock).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    // Assess
    expect(lease.id).not.toBe(lost.id);
    expect(await rateItem(pk)).toMatchObject({
      breaker: 'half-open',
      probe: { id: lease.id, expiresAt: clock.t + policy.leaseMs },
    });
  });

  it('lets only one of two processes racing for the probe through', async () => {
    // Prepare: a circuit opened a while ago; two processes with a few ms of network each way
    const clock = new VirtualClock(() => 2);
    const pk = freshKey();
    await table.doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          pk,
          sk: 'RATE',
          breaker: 'open',
          openedAt: clock.now() - 5_000,
          openedBy: 'boom',
          failures: 1,
          ...emptyLists,
        },
      }),
    );
    const racers = [0, 1].map(() => {
      const client = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: table.dynamo.endpoint });
      clock.track(client);
      return limiter(pk, clock, policy, 1_000, DynamoDBDocumentClient.from(client));
    });
    // Act
    const outcomes = await clock.run(
      Promise.allSettled(
        racers.map((l) => l.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 })),
      ),
    );
    // Assess: the loser waited for the probe's answer until its maximum wait
    const granted = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(granted).toHaveLength(1);
    expect(outcomes.find((o) => o.status === 'rejected')?.reason).toMatchObject({ reason: 'probing' });
    expect((await rateItem(pk))?.probe).toMatchObject({ id: granted[0]?.id });
  });

  it('keeps the probe it took while it waited for a slot, and goes before the probe expires', async () => {
    // Prepare: one slot, held by a caller that died; the circuit opened 1 s ago
    const clock = new SteppingClock();
    const pk = freshKey();
    const oneSlot = { ...policy, limits: { ...policy.limits, maxConcurrency: 1 }, leaseMs: 2_000 };
    await limiter(pk, clock, oneSlot).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    await table.doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          pk,
          sk: 'RATE',
          breaker: 'open',
          openedAt: T0 - oneSlot.breakerOpenMs,
          openedBy: 'boom',
          failures: 1,
          ...emptyLists,
        },
      }),
    );
    clock.t += 1_500;
    const probeExpires = clock.t + oneSlot.leaseMs;
    // Act
    const lease = await limiter(pk, clock, oneSlot).acquire({
      role: 'subagent',
      tenantId: 't',
      estimatedTokens: 1,
    });
    // Assess: granted once the dead lease expired, still the same probe
    expect(clock.t).toBeGreaterThanOrEqual(T0 + oneSlot.leaseMs);
    expect(clock.t).toBeLessThan(probeExpires);
    expect(await rateItem(pk)).toMatchObject({ probe: { id: lease.id, expiresAt: probeExpires } });
  });

  it('records a 429 on a key whose control item does not exist yet', async () => {
    // Prepare: without pacing, taking a slot writes nothing to the control item
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    const lease = await only.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 1 });
    expect(await rateItem(pk)).toBeUndefined();
    // Act
    await only.release(lease, { kind: 'rate-limited', retryAfterMs: 700 });
    // Assess
    expect(await rateItem(pk)).toMatchObject({
      cooldownUntil: T0 + 700,
      rateLimited: 1,
      decreases: 1,
      lastDecreaseAt: T0,
      shifts: [],
      waiters: {},
    });
  });

  it('reads a control item without the optional lists as empty ones', async () => {
    // Prepare: only the clock, as an item written before the lists existed
    const clock = new SteppingClock();
    const pk = freshKey();
    await table.doc.send(new PutCommand({ TableName: TABLE, Item: { pk, sk: 'RATE', tat: T0 - 5 } }));
    // Act
    const { state } = await limiter(pk, clock).snapshot();
    // Assess
    expect(state).toMatchObject({ tat: T0 - 5, breaker: 'closed', shifts: [], waiters: {}, shiftEpoch: 0 });
    expect(state.probe).toBeUndefined();
  });

  it('tells the limits it enforces', () => {
    expect(limiter(freshKey(), new SteppingClock()).limits).toEqual(policy.limits);
  });
});
