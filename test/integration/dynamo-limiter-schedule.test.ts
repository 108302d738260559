import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { CircuitOpenError, LimiterTimeoutError } from '#shared/domain/errors';
import type { LimiterLease } from '#shared/ports/rate-limiter';
import { T0 } from '../unit/stepping-clock';
import {
  base,
  isClaim,
  limiterOnDynalite,
  NET_MS,
  own,
  paced,
  reads,
  sleepsOf,
  sub,
  throttled,
  updatesOf,
} from './dynalite-limiter';
import { useDynaliteTable } from './dynalite-table';

/**
 * When the DynamoDB limiter lets a call go, against dynalite, on a clock where a sleep moves time
 * at once and each request takes 5 ms (or none): when it checks its ticket and claims its slot, how
 * cooldowns, deadlines and an open circuit end its wait, which ticket it goes with, what it gives
 * back. Other processes' writes are made between the limiter's requests.
 */
describe('DynamoRateLimiter schedule', () => {
  const table = useDynaliteTable();
  const { setUp, putRate, setRate, item } = limiterOnDynalite(() => table);

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
      'rpm 6,000, four slots: no further ahead than a quarter of four tickets’ spacing, 10.2 ms',
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

  it.each([
    ["to exactly lateMs after its start still goes with it, at the cooldown's end", 900, T0, 8],
    [
      'a millisecond further is void: the caller waits the cooldown out and takes a new ticket',
      901,
      T0 + 631,
      9,
    ],
  ])('a ticket that a cooldown delays %s', async (_name, cooldownMs, ticketStart, seq) => {
    // Prepare: the clock idle at now (the ticket starts now), a cooldown of `cooldownMs` (lateMs is 900 ms)
    const { pk, limiter, clock } = setUp(paced(600));
    await putRate(pk, { tat: T0, seq: 7, cooldownUntil: T0 + cooldownMs });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: the new ticket starts where an idle clock restarts (now + lead − catch-up), not after
    // the tickets of the wait, and only one more was taken
    expect(own(lease).ticket.start).toBe(ticketStart);
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + cooldownMs);
    expect((await item(pk, providerKeys.rate))?.seq).toBe(seq);
  });

  it('waits out a long cooldown before it takes a new ticket, instead of taking tickets that are void at once', async () => {
    // Prepare: a cooldown of 5 s on an idle clock
    const { pk, limiter, clock } = setUp(paced(600));
    await putRate(pk, { tat: T0, seq: 7, cooldownUntil: T0 + 5_000 });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: two tickets in all (the void one and its replacement), the call after the cooldown
    expect((await item(pk, providerKeys.rate))?.seq).toBe(9);
    expect(clock.now()).toBeGreaterThanOrEqual(T0 + 5_000);
    expect(clock.now() - own(lease).ticket.start).toBeLessThanOrEqual(900);
  });

  it('reports as queued no more of a pause than it asked for when its timer fires late', async () => {
    // Prepare: a cooldown of 700 ms; every sleep ends 7 ms late (as a timer of a busy event loop)
    const { pk, limiter, clock } = setUp(base, { netMs: 0 });
    clock.sleep = (ms: number) => {
      clock.t += Math.max(0, ms) + 7;
      return Promise.resolve();
    };
    await putRate(pk, { cooldownUntil: T0 + 700 });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: the 7 ms late are the limiter's own time, not time queued behind the cooldown
    expect(clock.now()).toBe(T0 + 707);
    expect(lease.waitedMs).toBe(700);
    expect(lease.limiterMs).toBe(7);
  });

  it.each([
    ['ends at its deadline: it waits for it and goes, reporting the pause as queued', 700],
    ['ends a millisecond past its deadline: it gives up at once', 701],
  ])('an unpaced call facing a cooldown that %s', async (_name, cooldownMs) => {
    // Prepare
    const { pk, limiter, clock } = setUp(base, { maxWaitMs: 700, netMs: 0 });
    await putRate(pk, { cooldownUntil: T0 + cooldownMs });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    if (cooldownMs === 700) {
      const lease = await attempt;
      expect(lease.waitedMs).toBe(700);
      expect(lease.limiterMs).toBe(0);
      return;
    }
    await expect(attempt).rejects.toMatchObject({ reason: 'cooldown' });
    expect(clock.now()).toBe(T0);
  });

  it('gives up naming the rate when its ticket, void once the insertion list was cleared, has only a replacement past its deadline', async () => {
    // Prepare: a ticket a second ahead; while the caller sleeps toward it, another process restarts
    // the clock in a new epoch (voiding it) ten seconds ahead
    let restarted = false;
    const { pk, limiter, clock, sent } = setUp(
      paced(600),
      { maxWaitMs: 3_000 },
      async (command, _clock, key) => {
        if (!(command instanceof GetCommand) || restarted) return;
        restarted = true;
        await setRate(key, { shiftEpoch: 1, tat: T0 + 10_000 });
      },
    );
    await putRate(pk, { tat: T0 + 1_000, seq: 7 });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess: no cooldown was involved, and it gave back no slot (it held none)
    await expect(attempt).rejects.toMatchObject({ reason: 'rpm' });
    expect(clock.now()).toBeLessThan(T0 + 1_000);
    expect(updatesOf(sent, 'REMOVE')).toHaveLength(0);
  });

  it('remembers a circuit it saw open while it looked at the slots: its next call is refused without a request', async () => {
    // Prepare: two slots, another tenant waiting (so the caller looks at all the slots); the circuit
    // opens (another process's failure) just before that look
    const { pk, limiter, sent } = setUp(
      { ...base, limits: { ...base.limits, maxConcurrency: 2 } },
      { netMs: 0 },
      async (command, clock, key) => {
        if (command instanceof QueryCommand)
          await setRate(key, { breaker: 'open', openedAt: clock.now(), openedBy: 'boom', failures: 1 });
      },
    );
    await putRate(pk, { waiters: { 'subagent#u': T0 + 5_000 } });
    await limiter.acquire(sub);
    const before = sent.length;
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
    expect(sent).toHaveLength(before);
  });

  it('fails at once on an open circuit that its ticket shows, without sleeping until the ticket', async () => {
    // Prepare: a circuit opened now; the clock 5 s ahead
    const { pk, limiter, clock } = setUp(paced(600), { netMs: 0 });
    await putRate(pk, {
      tat: T0 + 5_000,
      seq: 7,
      breaker: 'open',
      openedAt: T0,
      openedBy: 'boom',
      failures: 1,
    });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(attempt).rejects.toMatchObject({ reopensInMs: 1_000 });
    expect(clock.now()).toBe(T0);
  });

  it('takes a plain ticket when the table refuses to put an orchestrator ahead of the queue', async () => {
    // Prepare: a queue of 10 s; just before the insertion, other orchestrators fill the insertion list
    const fifty = Array.from({ length: 50 }, (_, i) => ({ at: T0 + i, by: 1 }));
    const { pk, limiter } = setUp(paced(600), { netMs: 0 }, async (command, _clock, key) => {
      if (command instanceof UpdateCommand && command.input.UpdateExpression?.includes('list_append'))
        await setRate(key, { shifts: fifty });
    });
    await putRate(pk, { tat: T0 + 10_000, seq: 7 });
    // Act
    const lease = await limiter.acquire({ ...sub, role: 'orchestrator' });
    // Assess
    expect(own(lease).ticket).toMatchObject({ start: T0 + 10_000, shiftCount: 50 });
  });

  it.each([
    [
      '(throttled twice) took it exactly lateMs after its ticket’s start: it goes with that ticket',
      2,
      T0 + 30 - 266.25,
    ],
    ['(throttled three times) took it further past it: it takes a new ticket', 3, undefined],
  ])('a caller whose claim of its slot %s', async (_name, throttles, start) => {
    // Prepare: a window of 53.25 s (lateMs 798.75 ms, an idle clock restarts 266.25 ms back);
    // pauses of 187.5, 375 and 750 ms for the throttled claims
    let left = throttles;
    const policy = { ...paced(600), limits: { ...paced(600).limits, windowMs: 53_250 } };
    const { limiter, clock } = setUp(policy, { netMs: 0 }, (command) => {
      if (isClaim(command) && left-- > 0) throw throttled();
    });
    // Act
    const lease = await limiter.acquire(sub);
    // Assess: it goes within lateMs of its ticket's start
    expect(clock.now() - own(lease).ticket.start).toBeLessThanOrEqual(798.75);
    if (start !== undefined) expect(own(lease).ticket.start).toBe(start);
    else expect(own(lease).ticket.start).toBeGreaterThan(T0);
  });

  it('gives up at once, naming the cooldown, when a cooldown outlasts its maximum wait', async () => {
    // Prepare: an idle clock, a cooldown of 5 s
    const { pk, limiter, clock } = setUp(paced(600), { maxWaitMs: 3_000, netMs: 0 });
    await putRate(pk, { tat: T0, seq: 7, cooldownUntil: T0 + 5_000 });
    // Act
    const attempt = limiter.acquire(sub);
    // Assess
    await expect(attempt).rejects.toMatchObject({ reason: 'cooldown' });
    expect(clock.now()).toBe(T0);
  });

  it('puts no orchestrator ahead of the queue once the insertion list is full: it takes a plain ticket in one write', async () => {
    // Prepare: a queue of 10 s, the list holding its 50 insertions
    const { pk, limiter, sent } = setUp(paced(600), { netMs: 0 });
    const fifty = Array.from({ length: 50 }, (_, i) => ({ at: T0 - 1_000 + i, by: 1 }));
    await putRate(pk, { tat: T0 + 10_000, seq: 7, shifts: fifty });
    // Act
    const lease = await limiter.acquire({ ...sub, role: 'orchestrator' });
    // Assess
    expect(updatesOf(sent, 'SET tat = tat + :by')).toHaveLength(0);
    expect(own(lease).ticket).toMatchObject({ start: T0 + 10_000, shiftCount: 50 });
  });

  it('guesses the branch of the clock an orchestrator read: a clock right at its floor is busy, one write', async () => {
    // Prepare: the clock at the floor of a ticket taken now (now + 30 ms lead − 300 ms catch-up)
    const { pk, limiter, sent } = setUp(paced(600), { netMs: 0 });
    await putRate(pk, { tat: T0 - 270, seq: 7 });
    // Act
    const lease = await limiter.acquire({ ...sub, role: 'orchestrator' });
    // Assess
    expect(own(lease).ticket.start).toBe(T0 - 270);
    expect(updatesOf(sent, 'SET tat')).toHaveLength(1);
  });

  it('gives no unused tokens back when another call queued behind it before it went, even once the clock is back at its end', async () => {
    // Prepare: TPM paced (10 ms of clock a token), the clock a second ahead; while the caller sleeps
    // toward its ticket another process takes the next one (100 ms)
    let queued = false;
    const policy = { ...base, limits: { ...base.limits, tpm: 1_000, windowMs: 9_800 } };
    const { pk, limiter, clock } = setUp(policy, {}, async (command, _clock, key) => {
      if (queued || !(command instanceof GetCommand)) return;
      queued = true;
      await setRate(key, { tat: T0 + 1_200 });
    });
    const slept = sleepsOf(clock);
    await putRate(pk, { tat: T0 + 1_000, seq: 7 });
    const lease = await limiter.acquire({ ...sub, estimatedTokens: 10 });
    expect(own(lease).ticket).toMatchObject({ start: T0 + 1_000, costMs: 100 });
    // (it slept to its check and then to its start, and asked for no sleep of nothing: a timer each)
    expect(slept).toEqual([965, 20]);
    // the call behind used none of its tokens and gave its whole ticket back
    await setRate(pk, { tat: T0 + 1_100 });
    // Act: the caller used half its tokens
    await limiter.release(lease, { kind: 'success', tokens: 5 });
    // Assess
    expect((await item(pk, providerKeys.rate))?.tat).toBe(T0 + 1_100);
  });

  it('counts as queued none of the wait for a ticket taken with a caller that asked later (its later floor)', async () => {
    // Prepare: a window of 1 s (an idle clock restarts 5 ms back, lateMs 15 ms); requests take none
    const policy = { ...paced(600, 2), limits: { ...paced(600, 2).limits, windowMs: 1_000 } };
    const { limiter, clock } = setUp(policy, { netMs: 0 });
    // Act: two callers whose tickets go in one update, the second asking 100 ms after the first
    const first = limiter.acquire(sub);
    clock.t += 100;
    const second = limiter.acquire(sub);
    const [lease] = await Promise.all([first, second]);
    // Assess: the first ticket starts at the second caller's floor (now + 30 ms lead − 5 ms)
    expect(own(lease as LimiterLease).ticket.start).toBe(T0 + 125);
    expect(lease?.waitedMs).toBe(0);
  });
});
