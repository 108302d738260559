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
import { initialRateState, type RateState, type Shift, type SlotLease } from '#shared/domain/limiter-rules';
import type { CallerRole, ProviderLimits } from '#shared/domain/provider-limits';
import { providerKeys } from './keys';

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

/** The wall clock, and a sleep that an abort ends early. */
export const realLimiterClock: LimiterClock = {
  now: Date.now,
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done);
    }),
};

/** The control item as read, and whether it exists yet. */
export interface RateRead {
  rate: RateState;
  exists: boolean;
}

const isThrottling = (error: unknown) =>
  error instanceof ThrottlingException ||
  error instanceof ProvisionedThroughputExceededException ||
  error instanceof RequestLimitExceeded;

/**
 * Reads and writes of one provider key's limiter items (`PROVIDER#…`): `RATE` (the pacing clock
 * and the control fields) and `SLOT#nnnnn` (`slotsPerItem` concurrency slots each). A request the table
 * throttles is retried with jittered backoff until the caller's deadline: throttling is a wait,
 * never a failure.
 */
export class LimiterItems {
  /** Round trip to the table (exponential moving average), for how early a caller gets ready. */
  rttMs = 5;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly pk: string,
    readonly limits: ProviderLimits,
    readonly clock: LimiterClock,
    private readonly random: () => number,
    /** Concurrency slots to an item ({@link LimiterSlots}): 1 where a process runs one caller. */
    readonly slotsPerItem = 1,
  ) {}

  /** The key of the item holding slot `n`: `SLOT#` and the item's first slot. */
  slotItemKey(n: number): string {
    return providerKeys.slot(n - (n % this.slotsPerItem));
  }

  /** The attribute of slot `n`'s lease in its item. */
  leaseAttribute(n: number): string {
    return `l${n % this.slotsPerItem}`;
  }

  /** The attribute of slot `n`'s count of grants in its item. */
  usesAttribute(n: number): string {
    return `u${n % this.slotsPerItem}`;
  }

  /** The control item (strongly consistent). */
  async readRate(deadline: number): Promise<RateRead> {
    const out = await this.send<GetCommandOutput>(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: this.pk, sk: providerKeys.rate },
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
        if (it.sk === providerKeys.rate) item = it;
        else if (typeof it.sk === 'string' && it.sk.startsWith(providerKeys.slotPrefix)) {
          const first = Number(it.sk.slice(providerKeys.slotPrefix.length));
          for (const [name, value] of Object.entries(it)) {
            const slot = /^([lu])(\d+)$/.exec(name);
            if (!slot) continue;
            if (slot[1] === 'u') granted += Number(value ?? 0);
            else leases.push(slotLeaseOf(first + Number(slot[2]), value as Record<string, unknown>));
          }
        }
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return { ...this.rateOf(item), leases, granted };
  }

  /** One update of an item of the key (the control item unless `sk` says otherwise); undefined: its condition failed. */
  async update(
    input: Omit<UpdateCommandInput, 'TableName' | 'Key'>,
    deadline: number,
    sk: string = providerKeys.rate,
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
        await this.backOff(
          retry,
          deadline,
          "the limiter's table kept throttling its requests until the maximum wait",
        );
      }
    }
  }

  /** Sleeps retry `n`'s pause (from 250 ms, doubling up to 5 s, jittered), or gives up if it would end past the deadline. */
  private async backOff(n: number, deadline: number, giveUp: string): Promise<void> {
    const pause = Math.min(THROTTLE_CAP_MS, THROTTLE_BASE_MS * 2 ** n) * (0.5 + this.random() / 2);
    if (this.clock.now() + pause > deadline) throw new LimiterTimeoutError(giveUp, 'throttled');
    await this.clock.sleep(pause);
  }

  rateOf(item: Record<string, unknown> | undefined): RateRead {
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
        ...(typeof item.openedBy === 'string' ? { openedBy: item.openedBy } : {}),
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

function slotLeaseOf(slot: number, lease: Record<string, unknown>): SlotLease {
  return {
    slot,
    id: String(lease.id),
    role: lease.role as CallerRole,
    tenantId: String(lease.tenantId),
    acquiredAt: Number(lease.acquiredAt),
    expiresAt: Number(lease.expiresAt),
  };
}
