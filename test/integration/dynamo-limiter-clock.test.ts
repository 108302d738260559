import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { type LimiterClock, LimiterItems } from '#shared/adapters/dynamo/limiter-items';
import { LimiterTable } from '#shared/adapters/dynamo/limiter-table';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import { pacingOf, type Ticket } from '#shared/domain/limiter-rules';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import type { LimiterLease } from '#shared/ports/rate-limiter';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { startKeyTable, useDynaliteTable } from './dynalite-table';
import { VirtualClock } from './virtual-clock';

const TABLE = 'Limits';

/** The ticket a paced lease carries (the DynamoDB lease's own field). */
const ticketOf = (lease: LimiterLease) => (lease as unknown as { ticket: Ticket }).ticket;

/**
 * The pacing clock of the DynamoDB limiter against dynalite: how a call's real token count moves
 * the clock after it, and how an idle clock restarts, keeping or dropping the orchestrators'
 * insertions. A token costs 10 ms of clock (TPM 1,000 in a 9.8 s window, at the 98 % safety).
 */
describe('DynamoRateLimiter pacing clock', () => {
  const dynalite = useDynaliteTable(() => startKeyTable(TABLE));
  let keyNo = 0;

  const policy: LimiterPolicy = {
    limits: { maxConcurrency: 5, rpm: undefined, tpm: 1_000, windowMs: 9_800 },
    orchestratorShare: 0,
    leaseMs: 30_000,
    cooldownMs: 100,
    breakerFailures: 5,
    breakerOpenMs: 1_000,
  };
  const pacing = pacingOf(policy.limits);
  const freshKey = () => providerPartitionKey(`http://127.0.0.1/clock/${++keyNo}/v1`, 'key');

  /** A client that fails after a few hundred requests, so a limiter that loops without end fails the test at once. */
  const bounded = (inner: DynamoDBDocumentClient) => {
    let sent = 0;
    return {
      send: (command: never) => {
        if (++sent > 300) throw new Error('runaway: more than 300 requests for one test');
        return inner.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
  };
  const limiter = (pk: string, clock: LimiterClock, client = dynalite.doc) =>
    new DynamoRateLimiter({
      client: bounded(client),
      tableName: TABLE,
      pk,
      policy,
      maxWaitMs: 20_000,
      pollMs: 10,
      clock,
    });
  const rateItem = async (pk: string) =>
    (
      await dynalite.doc.send(
        new GetCommand({ TableName: TABLE, Key: { pk, sk: 'RATE' }, ConsistentRead: true }),
      )
    ).Item;
  /** A control item whose clock stands at `tat`, with one orchestrator insertion in its list. */
  const clockWithInsertion = (pk: string, tat: number) =>
    dynalite.doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          pk,
          sk: 'RATE',
          tat,
          seq: 4,
          shifts: [{ at: tat - 500, by: 100 }],
          shiftEpoch: 0,
          waiters: {},
          cooldownUntil: 0,
          lastDecreaseAt: 0,
        },
      }),
    );

  it.each([
    ['more tokens than estimated moves the clock on by the extra ones', 15, 50],
    ['fewer tokens than estimated, with nobody queued behind, gives the unused ones back', 5, -50],
    ['the tokens it estimated leaves the clock alone', 10, 0],
  ])('a call that used %s', async (_name, tokens, movedMs) => {
    // Prepare: one call estimated at 10 tokens (100 ms of clock)
    const clock = new SteppingClock();
    const pk = freshKey();
    const only = limiter(pk, clock);
    const lease = await only.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 10 });
    const ticket = ticketOf(lease);
    expect(ticket.costMs).toBe(100);
    expect((await rateItem(pk))?.tat).toBe(ticket.start + 100);
    // Act
    await only.release(lease, { kind: 'success', tokens });
    // Assess
    expect((await rateItem(pk))?.tat).toBe(ticket.start + 100 + movedMs);
  });

  it('gives no unused tokens back once another call queued behind, after it took its ticket', async () => {
    // Prepare: a call, then a second one whose ticket follows it
    const clock = new SteppingClock();
    const pk = freshKey();
    const first = limiter(pk, clock);
    const lease = await first.acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 10 });
    const behind = await limiter(pk, clock).acquire({ role: 'subagent', tenantId: 't', estimatedTokens: 10 });
    const end = ticketOf(behind).start + 100;
    expect((await rateItem(pk))?.tat).toBe(end);
    // Act
    await first.release(lease, { kind: 'success', tokens: 5 });
    // Assess
    expect((await rateItem(pk))?.tat).toBe(end);
  });

  it('gives no unused tokens back when another call had queued behind before it went', async () => {
    // Prepare: three processes with a few ms of network each way; `long` takes the first ticket,
    // `first` the next, and `behind` one after it while `first` waits for its start.
    const clock = new VirtualClock(() => 2);
    const pk = freshKey();
    const [long, first, behind] = [0, 1, 2].map(() => {
      const client = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: dynalite.dynamo.endpoint });
      clock.track(client);
      return limiter(pk, clock, DynamoDBDocumentClient.from(client));
    });
    const ask = (tokens: number) => ({ role: 'subagent' as const, tenantId: 't', estimatedTokens: tokens });
    let ends: number[] = [];
    // Act
    await clock.run(
      (async () => {
        const leases = await Promise.all([
          long!.acquire(ask(50)),
          clock.sleep(1).then(() => first!.acquire(ask(10))),
          clock.sleep(100).then(() => behind!.acquire(ask(10))),
        ]);
        ends = leases.map((l) => ticketOf(l).start + ticketOf(l).costMs);
        await first!.release(leases[1]!, { kind: 'success', tokens: 5 });
      })(),
    );
    // Assess: the tickets went in that order, and the clock still ends with the last one
    expect(ends[0]).toBeLessThan(ends[1]!);
    expect(ends[1]).toBeLessThan(ends[2]!);
    expect((await rateItem(pk))?.tat).toBe(ends[2]);
  });

  it('restarts an idle clock keeping the insertions a ticket issued a moment ago may still need', async () => {
    // Prepare: the clock stopped 100 ms ago, within lateMs (147 ms), with an insertion in its list
    const clock = new SteppingClock();
    const pk = freshKey();
    expect(pacing.lateMs).toBeGreaterThan(100);
    await clockWithInsertion(pk, T0 - 100);
    // Act: an orchestrator reads the clock first, so it guesses the idle branch and a pruning
    const lease = await limiter(pk, clock).acquire({
      role: 'orchestrator',
      tenantId: 't',
      estimatedTokens: 10,
    });
    // Assess
    const item = await rateItem(pk);
    expect(item).toMatchObject({ shifts: [{ at: T0 - 600, by: 100 }], shiftEpoch: 0, seq: 5 });
    expect(item?.tat).toBe(ticketOf(lease).start + 100);
    expect(ticketOf(lease).start).toBeGreaterThan(T0 - 100);
  });

  it('restarts a clock idle for longer than lateMs with an empty insertion list, in a new epoch', async () => {
    // Prepare
    const clock = new SteppingClock();
    const pk = freshKey();
    await clockWithInsertion(pk, T0 - 1_000);
    // Act
    const lease = await limiter(pk, clock).acquire({
      role: 'orchestrator',
      tenantId: 't',
      estimatedTokens: 10,
    });
    // Assess
    expect(await rateItem(pk)).toMatchObject({ shifts: [], shiftEpoch: 1, seq: 5 });
    expect(ticketOf(lease)).toMatchObject({ shiftEpoch: 1, shiftCount: 0 });
  });

  it('drops the old insertions on a restart of the clock even when the caller guessed it busy', async () => {
    // Prepare: the table of a key whose clock is long idle
    const clock = new SteppingClock();
    const pk = freshKey();
    await clockWithInsertion(pk, T0 - 1_000);
    const table = new LimiterTable(
      new LimiterItems(bounded(dynalite.doc), TABLE, pk, policy.limits, clock, () => 0.5),
    );
    // Act
    const [issued] = await table.takeTickets(pacing, [100], T0, true, true, T0 + 5_000);
    // Assess
    expect(issued?.ticket).toEqual({ start: T0, costMs: 100, shiftEpoch: 1, shiftCount: 0 });
    expect(await rateItem(pk)).toMatchObject({ tat: T0 + 100, shifts: [], shiftEpoch: 1 });
  });
  it('lets a caller take over a slot at the millisecond its lease ends, as the rules count it over', async () => {
    // Prepare: slot 0 held by a lease that ends at T0 + 1,000 (the rules count it live while expiresAt > now)
    const pk = freshKey();
    const table = new LimiterTable(
      new LimiterItems(bounded(dynalite.doc), TABLE, pk, policy.limits, new SteppingClock(), () => 0.5),
    );
    const lease = {
      id: 'a',
      role: 'subagent' as const,
      tenantId: 't',
      acquiredAt: T0,
      expiresAt: T0 + 1_000,
    };
    expect(await table.claimSlot(0, lease, T0 + 5_000)).toBe(1);
    // Act: a claim a millisecond before the end, then one at the end
    const before = await table.claimSlot(
      0,
      { ...lease, id: 'b', acquiredAt: T0 + 999, expiresAt: T0 + 1_999 },
      T0 + 5_000,
    );
    const atEnd = await table.claimSlot(
      0,
      { ...lease, id: 'c', acquiredAt: T0 + 1_000, expiresAt: T0 + 2_000 },
      T0 + 5_000,
    );
    // Assess: refused while live, taken once over (before, the claim's condition still saw it held
    // and a caller the rules had sent to this slot asked again at once until the clock moved on)
    expect(before).toBeUndefined();
    // The slot's second grant: the claim answers with its count of grants.
    expect(atEnd).toBe(2);
  });
});
