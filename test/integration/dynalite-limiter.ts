import { ThrottlingException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { providerKeys } from '#shared/adapters/dynamo/keys';
import { DynamoRateLimiter, providerPartitionKey } from '#shared/adapters/dynamo/rate-limiter';
import type { Ticket } from '#shared/domain/limiter-rules';
import type { LimiterPolicy } from '#shared/domain/provider-limits';
import type { AcquireOptions, LimiterLease } from '#shared/ports/rate-limiter';
import { SteppingClock, T0 } from '../unit/stepping-clock';
import { type DynaliteTable, watchedClient } from './dynalite-table';

/** What a DynamoDB lease carries beyond the port's (its own fields). */
export const own = (lease: LimiterLease) =>
  lease as unknown as { ticket: Ticket; acquiredAt: number; slot: number };

/** Every request takes this long on the tests' clock (unless told otherwise), so a round trip stays 5 ms. */
export const NET_MS = 5;

/** One slot, unpaced, leases of 30 s; one failure opens the circuit for 1 s. */
export const base: LimiterPolicy = {
  limits: { maxConcurrency: 1, rpm: undefined, tpm: undefined, windowMs: 60_000 },
  orchestratorShare: 0,
  leaseMs: 30_000,
  cooldownMs: 100,
  breakerFailures: 1,
  breakerOpenMs: 1_000,
};
/** {@link base} paced by RPM (a window of 60 s: lateMs 900 ms, an idle clock restarts 300 ms back). */
export const paced = (rpm: number, maxConcurrency = 1): LimiterPolicy => ({
  ...base,
  limits: { ...base.limits, rpm, maxConcurrency },
});
export const sub: AcquireOptions = { role: 'subagent', tenantId: 't', estimatedTokens: 1 };

/** A request as the limiter sent it, and the time it went. */
export interface Sent {
  at: number;
  command: object;
}
export const reads = (sent: readonly Sent[]) => sent.filter((s) => s.command instanceof GetCommand);
export const queries = (sent: readonly Sent[]) => sent.filter((s) => s.command instanceof QueryCommand);
export const updatesOf = (sent: readonly Sent[], expression: string) =>
  sent.filter(
    (s) => s.command instanceof UpdateCommand && s.command.input.UpdateExpression?.startsWith(expression),
  );
export const throttled = () => new ThrottlingException({ message: 'slow down', $metadata: {} });
/** A claim of slot 0 (one slot to an item). */
export const isClaim = (command: object) =>
  command instanceof UpdateCommand && command.input.UpdateExpression?.startsWith('SET #l0 = :l0') === true;

/** The sleeps asked of `clock` from now on, in order (each still moves it on). */
export function sleepsOf(clock: SteppingClock): number[] {
  const slept: number[] = [];
  const sleep = clock.sleep;
  clock.sleep = (ms: number) => {
    slept.push(ms);
    return sleep(ms);
  };
  return slept;
}

/**
 * DynamoDB limiters on dynalite's table (`table()`, once started), each on a fresh key, and the
 * items of a key as other processes would leave them.
 */
export function limiterOnDynalite(table: () => DynaliteTable) {
  let keyNo = 0;
  const freshPk = () => providerPartitionKey(`http://127.0.0.1/limiter/${++keyNo}/v1`, 'key');
  return {
    freshPk,
    /**
     * A fresh key, a clock where a sleep moves time at once, and a limiter on it whose requests
     * are listed in `sent` (each taking `netMs`, {@link NET_MS} unless told); `before` sees each
     * request first (and may change the table, as another process would).
     */
    setUp(
      policy: LimiterPolicy = base,
      over: { maxWaitMs?: number; pollMs?: number; random?: () => number; netMs?: number } = {},
      before: (command: object, clock: SteppingClock, pk: string) => Promise<void> | void = () => {},
    ) {
      const pk = freshPk();
      const clock = new SteppingClock();
      const sent: Sent[] = [];
      const watched = watchedClient(table().doc, async (command) => {
        if (sent.length >= 200) throw new Error('runaway: more than 200 requests');
        sent.push({ at: clock.t, command });
        clock.t += over.netMs ?? NET_MS;
        await before(command, clock, pk);
      });
      const limiter = new DynamoRateLimiter({
        client: watched.client,
        tableName: table().tableName,
        pk,
        policy,
        maxWaitMs: over.maxWaitMs ?? 20_000,
        pollMs: over.pollMs ?? 10,
        clock,
        random: over.random ?? (() => 0.5),
      });
      return { pk, clock, sent, limiter };
    },
    /** The control item, with the lists every write that creates it sets. */
    putRate: (pk: string, fields: Record<string, unknown>) =>
      table().doc.send(
        new PutCommand({
          TableName: table().tableName,
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
      ),
    /** Sets fields of the control item (as another process's writes would). */
    setRate: (pk: string, fields: Record<string, unknown>) =>
      table().doc.send(
        new UpdateCommand({
          TableName: table().tableName,
          Key: { pk, sk: providerKeys.rate },
          UpdateExpression: `SET ${Object.keys(fields)
            .map((k) => `#${k} = :${k}`)
            .join(', ')}`,
          ExpressionAttributeNames: Object.fromEntries(Object.keys(fields).map((k) => [`#${k}`, k])),
          ExpressionAttributeValues: Object.fromEntries(Object.entries(fields).map(([k, v]) => [`:${k}`, v])),
        }),
      ),
    /** Slot `slot` held by a sub-agent of another process until `expiresAt`. */
    putHeldSlot: (pk: string, slot: number, expiresAt: number) =>
      table().doc.send(
        new PutCommand({
          TableName: table().tableName,
          Item: {
            pk,
            sk: providerKeys.slot(slot),
            l0: {
              id: `other-${slot}`,
              role: 'subagent',
              tenantId: 'other',
              acquiredAt: T0 - 1_000,
              expiresAt,
            },
            u0: 1,
          },
        }),
      ),
    item: async (pk: string, sk: string) =>
      (
        await table().doc.send(
          new GetCommand({ TableName: table().tableName, Key: { pk, sk }, ConsistentRead: true }),
        )
      ).Item,
  };
}
