import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  type GetCommandOutput,
  QueryCommand,
  type QueryCommandOutput,
  UpdateCommand,
  type UpdateCommandInput,
  type UpdateCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { LimiterTimeoutError } from '#shared/domain/errors';
import {
  initialRateState,
  MAX_SHIFTS,
  type Pacing,
  type RateLimitedChange,
  type RateState,
  type Shift,
  type SlotLease,
  type Ticket,
} from '#shared/domain/limiter-rules';
import type { CallerRole, ProviderLimits } from '#shared/domain/provider-limits';

/** Sort keys of a provider key's items: its clock and control fields, and one item per slot. */
export const limiterKeys = {
  rate: 'RATE',
  slot: (n: number) => `SLOT#${String(n).padStart(5, '0')}`,
  slotPrefix: 'SLOT#',
};

/** Idle keys disappear through the table's TTL this long after their last write. */
const ITEM_TTL_SECONDS = 7 * 24 * 3600;
/** Backoff after the table throttled a request: from this, doubling, up to the cap, with jitter. */
const THROTTLE_BASE_MS = 250;
const THROTTLE_CAP_MS = 5_000;

/** What the limiter needs of time: the clock and a sleep (injected so tests can run a virtual clock). */
export interface LimiterClock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The control item as read, and whether it exists yet. */
export interface RateRead {
  rate: RateState;
  exists: boolean;
}

/** A ticket as issued: when its call may start, its number, and the key's state right after. */
export interface Issued {
  ticket: Ticket;
  seq: number;
  read: RateRead;
}

const isThrottling = (error: unknown) =>
  error instanceof ThrottlingException ||
  error instanceof ProvisionedThroughputExceededException ||
  error instanceof RequestLimitExceeded;

/**
 * Attributes later writes rely on (nested paths, conditions on their values); every write that may
 * create the control item sets them if missing.
 */
const INIT_LISTS =
  'waiters = if_not_exists(waiters, :emptyMap), shifts = if_not_exists(shifts, :emptyList), shiftEpoch = if_not_exists(shiftEpoch, :zero)';
const INIT_FIELDS = `${INIT_LISTS}, cooldownUntil = if_not_exists(cooldownUntil, :zero), lastDecreaseAt = if_not_exists(lastDecreaseAt, :zero)`;
const INIT_VALUES = { ':emptyMap': {}, ':emptyList': [], ':zero': 0 };

/**
 * The items of one provider key's limiter (`PROVIDER#…`): `RATE` (the pacing clock and the control
 * fields) and `SLOT#nnnnn` (one per concurrency slot). Every change is one atomic or conditional
 * update of one small item; requests the table throttles are retried with backoff until the
 * caller's deadline (throttling is a wait, never a failure).
 */
export class LimiterTable {
  /** Round trip to the table (exponential moving average), for how early a caller gets ready. */
  rttMs = 5;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly pk: string,
    private readonly limits: ProviderLimits,
    private readonly clock: LimiterClock,
    private readonly random: () => number,
  ) {}

  /** Takes the next ticket: one atomic update of the clock (the branch that does not match costs a retry). */
  async takeTicket(
    pacing: Pacing,
    costMs: number,
    busyFirst: boolean,
    pruneShifts: boolean,
    deadline: number,
  ): Promise<Issued> {
    for (let attempt = 0; ; attempt++) {
      const now = this.clock.now();
      const floor = now - pacing.catchUpMs;
      const busy = busyFirst === (attempt % 2 === 0);
      const out = await this.update(
        busy
          ? {
              UpdateExpression: 'SET tat = tat + :cost, #ttl = :ttl ADD seq :one',
              ConditionExpression: 'tat >= :floor',
              ExpressionAttributeValues: { ':cost': costMs, ':floor': floor, ':one': 1 },
            }
          : this.restartClock(floor, costMs, pruneShifts ? now - pacing.lateMs : undefined),
        deadline,
      );
      if (!out) {
        // An idle clock with a shift list that is not old enough to drop: restart it keeping the list.
        if (pruneShifts && !busy) pruneShifts = false;
        continue;
      }
      const read = this.rateOf(out.Attributes);
      const start = busy ? read.rate.tat - costMs : floor;
      return {
        ticket: { start, costMs, shiftEpoch: read.rate.shiftEpoch, shiftCount: read.rate.shifts.length },
        seq: read.rate.seq,
        read,
      };
    }
  }

  /** The update that restarts an idle clock at `floor` (dropping old orchestrator insertions when it may). */
  private restartClock(floor: number, costMs: number, pruneBefore: number | undefined) {
    const values = { ':start': floor + costMs, ':floor': floor, ':one': 1, ...INIT_VALUES };
    if (pruneBefore === undefined)
      return {
        UpdateExpression: `SET tat = :start, #ttl = :ttl, ${INIT_FIELDS} ADD seq :one`,
        ConditionExpression: 'attribute_not_exists(tat) OR tat < :floor',
        ExpressionAttributeValues: values,
      };
    // Every ticket issued before started more than lateMs ago: none can still need the list.
    return {
      UpdateExpression: 'SET tat = :start, #ttl = :ttl, shifts = :emptyList ADD seq :one, shiftEpoch :one',
      ConditionExpression: 'tat < :pruneBefore',
      ExpressionAttributeValues: {
        ':start': floor + costMs,
        ':one': 1,
        ':emptyList': [],
        ':pruneBefore': pruneBefore,
      },
    };
  }

  /**
   * Puts an orchestrator call at `start`, ahead of the queued tickets (which move `shift.by`
   * later); undefined when the queue no longer reaches past `start` or the list is full.
   */
  async insertTicket(
    start: number,
    shift: Shift,
    costMs: number,
    deadline: number,
  ): Promise<Issued | undefined> {
    const out = await this.update(
      {
        UpdateExpression:
          'SET tat = tat + :by, shifts = list_append(shifts, :shift), #ttl = :ttl ADD seq :one',
        ConditionExpression: 'tat > :start AND size(shifts) < :max',
        ExpressionAttributeValues: {
          ':by': shift.by,
          ':shift': [shift],
          ':start': start,
          ':max': MAX_SHIFTS,
          ':one': 1,
        },
      },
      deadline,
    );
    if (!out) return undefined;
    const read = this.rateOf(out.Attributes);
    return {
      ticket: { start, costMs, shiftEpoch: read.rate.shiftEpoch, shiftCount: read.rate.shifts.length },
      seq: read.rate.seq,
      read,
    };
  }

  /** The control item (strongly consistent). */
  async readRate(deadline: number): Promise<RateRead> {
    const out = await this.send<GetCommandOutput>(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: this.pk, sk: limiterKeys.rate },
        ConsistentRead: true,
      }),
      deadline,
    );
    return this.rateOf(out.Item);
  }

  /** The control item and every slot, in one query of the key's partition. */
  async readAll(deadline: number): Promise<RateRead & { leases: SlotLease[]; granted: number }> {
    let item: Record<string, unknown> | undefined;
    const leases: SlotLease[] = [];
    let granted = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out: QueryCommandOutput = await this.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': this.pk },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
        deadline,
      );
      for (const it of out.Items ?? []) {
        if (it.sk === limiterKeys.rate) item = it;
        else if (typeof it.sk === 'string' && it.sk.startsWith(limiterKeys.slotPrefix)) {
          granted += Number(it.uses ?? 0);
          if (typeof it.leaseId === 'string') leases.push(slotLeaseOf(it));
        }
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return { ...this.rateOf(item), leases, granted };
  }

  /** Claims a slot that is free or whose lease expired. */
  async claimSlot(slot: number, lease: Omit<SlotLease, 'slot'>, deadline: number): Promise<boolean> {
    const out = await this.update(
      {
        UpdateExpression:
          'SET leaseId = :id, #role = :role, tenantId = :tenant, acquiredAt = :at, expiresAt = :exp, #ttl = :ttl ADD uses :one',
        ConditionExpression: 'attribute_not_exists(leaseId) OR expiresAt < :at',
        ExpressionAttributeNames: { '#role': 'role' },
        ExpressionAttributeValues: {
          ':id': lease.id,
          ':role': lease.role,
          ':tenant': lease.tenantId,
          ':at': lease.acquiredAt,
          ':exp': lease.expiresAt,
          ':one': 1,
        },
      },
      deadline,
      limiterKeys.slot(slot),
    );
    return out !== undefined;
  }

  /** Frees a slot if it is still this lease's (an expired lease may have been taken over). */
  async freeSlot(slot: number, leaseId: string, deadline: number): Promise<void> {
    await this.update(
      {
        UpdateExpression: 'REMOVE leaseId, #role, tenantId, acquiredAt, expiresAt SET #ttl = :ttl',
        ConditionExpression: 'leaseId = :id',
        ExpressionAttributeNames: { '#role': 'role' },
        ExpressionAttributeValues: { ':id': leaseId },
      },
      deadline,
      limiterKeys.slot(slot),
    );
  }

  /** Sets (or refreshes) a waiter's marker; creates the control item first when it does not exist. */
  async markWaiter(key: string, expiresAt: number, exists: boolean, deadline: number): Promise<void> {
    if (!exists)
      await this.update(
        { UpdateExpression: `SET #ttl = :ttl, ${INIT_FIELDS}`, ExpressionAttributeValues: INIT_VALUES },
        deadline,
      );
    await this.update(
      {
        UpdateExpression: 'SET waiters.#w = :exp',
        ExpressionAttributeNames: { '#w': key },
        ExpressionAttributeValues: { ':exp': expiresAt },
      },
      deadline,
    );
  }

  async clearWaiter(key: string, deadline: number): Promise<void> {
    await this.update(
      {
        UpdateExpression: 'REMOVE waiters.#w',
        ConditionExpression: 'attribute_exists(waiters)',
        ExpressionAttributeNames: { '#w': key },
      },
      deadline,
    );
  }

  /** Becomes the one probe of a circuit that may let one through (open past its time, or a probe expired). */
  async tryProbe(
    rate: RateState,
    probe: { id: string; expiresAt: number },
    deadline: number,
  ): Promise<boolean> {
    const out = await this.update(
      {
        UpdateExpression: 'SET breaker = :half, probe = :probe',
        ConditionExpression:
          rate.breaker === 'open'
            ? 'breaker = :open AND openedAt = :openedAt'
            : 'breaker = :half AND probe.id = :old',
        ExpressionAttributeValues: {
          ':half': 'half-open',
          ':probe': probe,
          ...(rate.breaker === 'open'
            ? { ':open': 'open', ':openedAt': rate.openedAt }
            : { ':old': rate.probe?.id ?? '' }),
        },
      },
      deadline,
    );
    return out !== undefined;
  }

  /** Records a 429 under a condition on what it read; false: something changed, read again. */
  async recordRateLimited(read: RateRead, change: RateLimitedChange, deadline: number): Promise<boolean> {
    const out = await this.update(
      {
        UpdateExpression: `SET cooldownUntil = :until, ceiling = :ceiling, lastDecreaseAt = :decAt, #ttl = :ttl, ${INIT_LISTS} ADD rateLimited :one, decreases :dec`,
        ConditionExpression: read.exists
          ? 'cooldownUntil = :oldUntil AND lastDecreaseAt = :oldDecAt'
          : 'attribute_not_exists(pk)',
        ExpressionAttributeValues: {
          ':until': change.cooldownUntil,
          ':ceiling': change.ceiling,
          ':decAt': change.lastDecreaseAt,
          ':one': 1,
          ':dec': change.decreased ? 1 : 0,
          ...INIT_VALUES,
          ...(read.exists
            ? { ':oldUntil': read.rate.cooldownUntil, ':oldDecAt': read.rate.lastDecreaseAt }
            : {}),
        },
      },
      deadline,
    );
    return out !== undefined;
  }

  /** New tickets start no earlier than `until` (after a cooldown). */
  async pushClock(until: number, deadline: number): Promise<void> {
    await this.update(
      {
        UpdateExpression: 'SET tat = :until',
        ConditionExpression: 'tat < :until',
        ExpressionAttributeValues: { ':until': until },
      },
      deadline,
    );
  }

  /** Counts a failure in a row; returns the state after it. */
  async recordFailure(deadline: number): Promise<RateRead> {
    const out = await this.update(
      {
        UpdateExpression: `SET #ttl = :ttl, ${INIT_FIELDS} ADD failures :one, failuresTotal :one`,
        ExpressionAttributeValues: { ':one': 1, ...INIT_VALUES },
      },
      deadline,
    );
    return this.rateOf(out?.Attributes);
  }

  /** Opens the circuit: from closed, or when the failing call was the probe. */
  async openCircuit(probeId: string | undefined, deadline: number): Promise<void> {
    await this.update(
      {
        UpdateExpression: `SET breaker = :open, openedAt = :now, ${INIT_FIELDS} REMOVE probe`,
        ConditionExpression: probeId
          ? 'probe.id = :id'
          : 'attribute_not_exists(breaker) OR breaker = :closed',
        ExpressionAttributeValues: {
          ':open': 'open',
          ':now': this.clock.now(),
          ...INIT_VALUES,
          ...(probeId ? { ':id': probeId } : { ':closed': 'closed' }),
        },
      },
      deadline,
    );
  }

  /** Closes a half-open circuit after its probe got an answer. */
  async closeProbe(probeId: string, deadline: number): Promise<void> {
    await this.update(
      {
        UpdateExpression: 'SET breaker = :closed, failures = :zero REMOVE probe',
        ConditionExpression: 'probe.id = :id',
        ExpressionAttributeValues: { ':closed': 'closed', ':zero': 0, ':id': probeId },
      },
      deadline,
    );
  }

  async resetFailures(deadline: number): Promise<void> {
    await this.update(
      {
        UpdateExpression: 'SET failures = :zero',
        ConditionExpression: 'failures > :zero',
        ExpressionAttributeValues: { ':zero': 0 },
      },
      deadline,
    );
  }

  /** Additive increase of the adaptive ceiling (never past the limit). */
  async raiseCeiling(by: number, deadline: number): Promise<void> {
    await this.update(
      {
        UpdateExpression: 'ADD ceiling :by',
        ConditionExpression: 'ceiling < :max',
        ExpressionAttributeValues: { ':by': by, ':max': this.limits.maxConcurrency },
      },
      deadline,
    );
  }

  /** Moves the clock: later when a call used more tokens than estimated; back only if nobody queued since. */
  async correctClock(deltaMs: number, expectedTat: number | undefined, deadline: number): Promise<void> {
    await this.update(
      expectedTat === undefined
        ? { UpdateExpression: 'ADD tat :d', ExpressionAttributeValues: { ':d': deltaMs } }
        : {
            UpdateExpression: 'SET tat = :t',
            ConditionExpression: 'tat = :expected',
            ExpressionAttributeValues: { ':t': expectedTat + deltaMs, ':expected': expectedTat },
          },
      deadline,
    );
  }

  /** One update of an item of the key (the control item unless `sk` says otherwise); undefined: its condition failed. */
  private async update(
    input: Omit<UpdateCommandInput, 'TableName' | 'Key'>,
    deadline: number,
    sk: string = limiterKeys.rate,
  ): Promise<UpdateCommandOutput | undefined> {
    const expression = input.UpdateExpression ?? '';
    const values: Record<string, unknown> = { ...input.ExpressionAttributeValues };
    if (expression.includes(':ttl')) values[':ttl'] = Math.floor(this.clock.now() / 1000) + ITEM_TTL_SECONDS;
    const names = {
      ...(expression.includes('#ttl') ? { '#ttl': 'ttl' } : {}),
      ...input.ExpressionAttributeNames,
    };
    try {
      return await this.send<UpdateCommandOutput>(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: this.pk, sk },
          ReturnValues: 'ALL_NEW',
          ...input,
          ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
          ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
        }),
        deadline,
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** Sends one request; a throttled one is retried with jittered backoff until the deadline. */
  private async send<T>(command: GetCommand | QueryCommand | UpdateCommand, deadline: number): Promise<T> {
    for (let retry = 0; ; retry++) {
      const sent = this.clock.now();
      try {
        // biome-ignore lint/suspicious/noExplicitAny: the document client's send is overloaded per command
        const out = (await this.client.send(command as any)) as T;
        this.rttMs = 0.8 * this.rttMs + 0.2 * (this.clock.now() - sent);
        return out;
      } catch (error) {
        if (!isThrottling(error)) throw error;
        const pause = Math.min(THROTTLE_CAP_MS, THROTTLE_BASE_MS * 2 ** retry) * (0.5 + this.random() / 2);
        if (this.clock.now() + pause > deadline)
          throw new LimiterTimeoutError(
            "the limiter's table kept throttling its requests until the maximum wait",
            'throttled',
          );
        await this.clock.sleep(pause);
      }
    }
  }

  private rateOf(item: Record<string, unknown> | undefined): RateRead {
    const base = initialRateState(this.limits);
    if (!item) return { rate: base, exists: false };
    const num = (v: unknown, d: number) => (v === undefined ? d : Number(v));
    const probe = item.probe as { id: string; expiresAt: unknown } | undefined;
    return {
      exists: true,
      rate: {
        tat: num(item.tat, 0),
        seq: num(item.seq, 0),
        cooldownUntil: num(item.cooldownUntil, 0),
        // A changed configuration (a new tier) takes effect on the stored ceiling at once.
        ceiling: Math.min(num(item.ceiling, base.ceiling), this.limits.maxConcurrency),
        lastDecreaseAt: num(item.lastDecreaseAt, 0),
        consecutiveFailures: num(item.failures, 0),
        breaker: (item.breaker as RateState['breaker'] | undefined) ?? 'closed',
        openedAt: num(item.openedAt, 0),
        probe: probe ? { id: probe.id, expiresAt: Number(probe.expiresAt) } : undefined,
        shiftEpoch: num(item.shiftEpoch, 0),
        shifts: ((item.shifts as Shift[] | undefined) ?? []).map((s) => ({
          at: Number(s.at),
          by: Number(s.by),
        })),
        waiters: Object.fromEntries(
          Object.entries((item.waiters as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [
            k,
            Number(v),
          ]),
        ),
        totals: {
          rateLimited: num(item.rateLimited, 0),
          failures: num(item.failuresTotal, 0),
          decreases: num(item.decreases, 0),
        },
      },
    };
  }
}

function slotLeaseOf(item: Record<string, unknown>): SlotLease {
  return {
    slot: Number(String(item.sk).slice(limiterKeys.slotPrefix.length)),
    id: String(item.leaseId),
    role: item.role as CallerRole,
    tenantId: String(item.tenantId),
    acquiredAt: Number(item.acquiredAt),
    expiresAt: Number(item.expiresAt),
  };
}
