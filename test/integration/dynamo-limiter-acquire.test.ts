import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { CircuitOpenError, LimiterTimeoutError } from '#shared/domain/errors';
import type { Ticket } from '#shared/domain/limiter-rules';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import type { AcquireOptions, LimiterLease } from '#shared/ports/rate-limiter';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { type DynaliteTable, startDynaliteTable, watchedClient } from './dynalite-table';

/** What a DynamoDB lease carries beyond the port's (its own fields). */
const own = (lease: LimiterLease) => lease as unknown as { ticket: Ticket; acquiredAt: number; slot: number };

/** Every request takes this long on the tests' clock, so a round trip to the table stays 5 ms. */
const NET_MS = 5;

const base: LimiterPolicy = {
  limits: { maxConcurrency: 1, rpm: undefined, tpm: undefined, windowMs: 60_000 },
  orchestratorShare: 0,
  leaseMs: 30_000,
  cooldownMs: 100,
  breakerFailures: 1,
  breakerOpenMs: 1_000,
};
const sub: AcquireOptions = { role: 'subagent', tenantId: 't', estimatedTokens: 1 };

/**
 * How the DynamoDB limiter waits and when it goes, against dynalite, on a clock where a sleep moves
 * time at once and each request takes {@link NET_MS} (or none): when it checks its ticket and claims
 * its slot, when it gives up, how long it reports queued, when it lets its slot go.
 */
describe('DynamoRateLimiter acquire', () => {
  let table: DynaliteTable;
  let keyNo = 0;

  /** A request as the limiter sent it, and the time it went. */
  interface Sent {
    at: number;
    command: object;
  }
  /**
   * A fresh key, a clock, and a limiter on it whose requests are listed in `sent` (`netMs` each);
   * `before` sees each request first (and may change the table, as another process would).
   */
  const setUp = (
    policy: LimiterPolicy = base,
    over: { maxWaitMs?: number; pollMs?: number; random?: () => number; netMs?: number } = {},
    before: (command: object, clock: SteppingClock) => Promise<void> | void = () => {},
  ) => {
    const pk = providerPartitionKey(`http://127.0.0.1/acquire/${++keyNo}/v1`, 'key');
    const clock = new SteppingClock();
    const sent: Sent[] = [];
    const watched = watchedClient(table.doc, async (command) => {
      if (sent.length >= 200) throw new Error('runaway: more than 200 requests');
      sent.push({ at: clock.t, command });
      clock.t += over.netMs ?? NET_MS;
      await before(command, clock);
    });
    const limiter = new DynamoRateLimiter({
      client: watched.client,
      tableName: table.tableName,
      pk,
      policy,
      maxWaitMs: over.maxWaitMs ?? 20_000,
      pollMs: over.pollMs ?? 10,
      clock,
      random: over.random ?? (() => 0.5),
    });
    return { pk, clock, sent, limiter };
  };
  const paced = (rpm: number, maxConcurrency = 1): LimiterPolicy => ({
    ...base,
    limits: { ...base.limits, rpm, maxConcurrency },
  });
  /** The control item, with the lists every write that creates it sets. */
  const putRate = (pk: string, fields: Record<string, unknown>) =>
    table.doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          pk,
          sk: providerKeys.rate,
          waiters: {},
          shifts: [],
          shiftEpoch: 0,
          cooldownUntil: 0,
          lastDecreaseAt: 0,
          ...fields,
        },
      }),
    );
  /** Slot `slot` held by another caller until `expiresAt`. */
  const putHeldSlot = (pk: string, slot: number, expiresAt: number, role = 'subagent') =>
    table.doc.send(
      new PutCommand({
        TableName: table.tableName,
        Item: {
          pk,
          sk: providerKeys.slot(slot),
          l0: { id: `other-${slot}`, role, tenantId: 'other', acquiredAt: T0 - 1_000, expiresAt },
          u0: 1,
        },
      }),
    );
  const item = async (pk: string, sk: string) =>
    (
      await table.doc.send(
        new GetCommand({ TableName: table.tableName, Key: { pk, sk }, ConsistentRead: true }),
      )
    ).Item;
  const reads = (sent: readonly Sent[]) => sent.filter((s) => s.command instanceof GetCommand);
  const queries = (sent: readonly Sent[]) => sent.filter((s) => s.command instanceof QueryCommand);
  const updatesOf = (sent: readonly Sent[], expression: string) =>
    sent.filter(
      (s) => s.command instanceof UpdateCommand && s.command.input.UpdateExpression?.startsWith(expression),
    );

  beforeAll(async () => {
    table = await startDynaliteTable();
  });
  afterAll(async () => {
    await table?.dynamo.close();
  });

  it('refuses at once, asking the table nothing, a call while the circuit it last saw is open', async () => {
    // Prepare: a failure opens the circuit; the next call of this process reads it open and is refused
    const { limiter, clock, sent } = setUp();
    await limiter.release(await limiter.acquire(sub), { kind: 'failure', reason: 'boom' });
    await expect(limiter.acquire(sub)).rejects.toBeInstanceOf(CircuitOpenError);
    const before = sent.length;
    clock.t += 400;
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(attempt).rejects.toMatchObject({ message: expect.stringContaining('boom') });
    expect(sent).toHaveLength(before);
  });

  it.each([
    ['rpm 600, one slot: a round trip and 5 ms', 600, 1, 15],
    [
      'rpm 6,000, four slots: no earlier than the quarter of the slots its ticket rate fills',
      6_000,
      4,
      60_000 / 5_880,
    ],
  ])(
    'checks its ticket 10 ms and four round trips before it starts, claims its slot just before it (%s) and goes at its start',
    async (_name, rpm, maxConcurrency, claimLeadMs) => {
      // Prepare: a clock a second ahead (its tickets queued), each request 5 ms
      const { pk, limiter, clock, sent } = setUp(paced(rpm, maxConcurrency));
      await putRate(pk, { tat: T0 + 1_000, seq: 7 });
      // Act
      const lease = await limiter.acquire(sub);
      // Assess: the ticket at the clock; the check (the one read) 30 ms before; the claim before it
      // by the claim lead; the call at its start; queued all but its three requests
      expect(own(lease).ticket.start).toBe(T0 + 1_000);
      expect(reads(sent).map((s) => s.at)).toEqual([T0 + 1_000 - 30]);
      expect(own(lease).acquiredAt).toBeCloseTo(T0 + 1_000 - claimLeadMs, 6);
      expect(clock.now()).toBe(T0 + 1_000);
      expect(lease.waitedMs).toBe(1_000 - 3 * NET_MS);
      expect(lease.limiterMs).toBe(3 * NET_MS);
    },
  );

  it('reads nothing more for a ticket due the moment it comes back (its check would be now)', async () => {
    // Prepare: the ticket starts 30 ms (the check's lead) after the clock update comes back
    const { pk, limiter, sent } = setUp(paced(600));
    await putRate(pk, { tat: T0 + NET_MS + 30, seq: 7 });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: one update of the clock and the claim, no read
    expect(own(lease).ticket.start).toBe(T0 + NET_MS + 30);
    expect(reads(sent)).toHaveLength(0);
    expect(sent).toHaveLength(2);
  });

  it('checks its ticket once after sleeping, though its lead shrank meanwhile (a faster table)', async () => {
    // Prepare: requests take no time, so the round trip and the lead shrink with each one
    const { pk, limiter, sent } = setUp(paced(600), { netMs: 0 });
    await putRate(pk, { tat: T0 + 1_000, seq: 7 });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess
    expect(own(lease).ticket.start).toBe(T0 + 1_000);
    expect(reads(sent)).toHaveLength(1);
  });

  it.each([
    ['its ticket starts at its deadline: it goes', 0],
    ['its ticket starts a millisecond after its deadline: it gives up at once', 1],
  ])('%s', async (_name, pastMs) => {
    // Prepare: a clock two seconds ahead; the caller must go by the ticket's start (less `pastMs`)
    const { pk, limiter, clock } = setUp(paced(600));
    await putRate(pk, { tat: T0 + 2_000, seq: 7 });
    // Act
    const attempt = limiter.acquire({ ...sub, notAfter: T0 + 2_000 - pastMs });
    // Assess
    if (pastMs === 0) {
      expect(own(await attempt).ticket.start).toBe(T0 + 2_000);
      return;
    }
    await expect(attempt).rejects.toBeInstanceOf(LimiterTimeoutError);
    await expect(attempt).rejects.toMatchObject({
      reason: 'rpm',
      message: "the provider's limiter granted no call within 20000 ms (last reason: rpm)",
    });
    expect(clock.now()).toBe(T0 + NET_MS);
  });
});
