import { BatchGetCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { writeBatch } from '#shared/adapters/dynamo/batch-writes';
import { Coalescer, KeyedCoalescers } from '#shared/adapters/dynamo/coalescer';
import { keys } from '#shared/adapters/dynamo/keys';
import { isConditionFailure } from '#shared/adapters/dynamo/tenant-item';
import { usd } from '#shared/domain/tenant';
import type { JobRef } from '#shared/ports/job-store';

/**
 * How many items a job's call budget is spread over. DynamoDB (and dynalite, which queues the
 * writes of one item behind each other) serializes the writes of one item: with one item, every
 * model call of every sub-agent of a job waited in one line, twice. Fixed, because a call's shard
 * is found from its caller alone, with no read; a stop and a settlement write all of them.
 */
export const BUDGET_SHARDS = 16;

/**
 * The shard of a caller (a sub-agent's id): its number modulo {@link BUDGET_SHARDS} when the id ends
 * in one (`agent-0001`, `s2-agent-0017`: a job's sub-agents spread evenly), else FNV-1a of the id.
 * Hashed, a hundred sub-agents put up to eleven on one shard, whose share then ran short: one call
 * of each job drew from the job's record, three round trips later than the others.
 */
export function shardOf(caller: string): number {
  const numbered = /(\d{1,9})$/.exec(caller);
  if (numbered) return Number(numbered[1]) % BUDGET_SHARDS;
  let hash = 0x811c9dc5;
  for (let i = 0; i < caller.length; i++) {
    hash ^= caller.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % BUDGET_SHARDS;
}

/** What the shards of a job say together about its calls. */
export interface ShardCalls {
  /** Every shard carries the stop (a stop writes all of them before it counts). */
  allStopped: boolean;
  /** Calls authorized and not completed yet, over all shards. */
  inFlight: number;
}

/** A take or a completion on shard `k`: `amount` taken for a call, or given back at its end. */
interface ShardAsk {
  ref: JobRef;
  k: number;
  amount: number;
}

const SHARD_INDEXES = Array.from({ length: BUDGET_SHARDS }, (_, k) => k);

/**
 * The shards of a job's call budget (`BUDGET#00`…`BUDGET#15` in the job's partition). A shard holds
 * money drawn from the job's budget record (`BUDGET`, the only item that moves money with the
 * tenant) and counts the calls it authorized that have not completed (`inFlight`). Each starts
 * with a share of the reservation; one short of money draws a chunk from the record. Two markers, never removed: `stopped` (a stop:
 * no authorization from now on, and the last call in flight closes the job) and `closed` (a
 * settlement: no authorization once the charge may be frozen).
 */
export class BudgetShards {
  private readonly takes = new KeyedCoalescers<ShardAsk, boolean>(
    () =>
      new Coalescer(
        (waiting) => waiting.length,
        (asks) => this.takeTogether(asks),
      ),
  );
  private readonly completions = new KeyedCoalescers<ShardAsk, Record<string, unknown> | undefined>(
    () =>
      new Coalescer(
        (waiting) => waiting.length,
        (asks) => this.completeTogether(asks),
      ),
  );

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private coalesceKey(ref: JobRef, k: number): string {
    return `${keys.jobPk(ref)}\u0000${k}`;
  }

  private key(ref: JobRef, k: number) {
    return { pk: keys.jobPk(ref), sk: keys.budgetShard(k) };
  }

  /**
   * Takes `amount` from shard `k` and counts the call, in one conditional write; false when short.
   * The takes of one shard asked while a write to it is on its way go together in the next
   * ({@link takeTogether}).
   */
  take(ref: JobRef, k: number, amount: number): Promise<boolean> {
    return this.takes.ask(this.coalesceKey(ref, k), { ref, k, amount });
  }

  /**
   * One write for all `asks` (of one shard): the sum taken and the calls counted at once, when the
   * shard holds the sum and is open. Short of the sum, each is tried alone, in order (some may
   * still fit); stopped or closed, each alone fails too.
   */
  private async takeTogether(asks: ShardAsk[]): Promise<boolean[]> {
    const [first] = asks;
    if (!first) return [];
    const total = usd(asks.reduce((sum, a) => sum + a.amount, 0));
    if (await this.takeWrite(first.ref, first.k, total, asks.length)) return asks.map(() => true);
    if (asks.length === 1) return [false];
    const taken: boolean[] = [];
    for (const a of asks) taken.push(await this.takeWrite(a.ref, a.k, a.amount, 1));
    return taken;
  }

  private takeWrite(ref: JobRef, k: number, amount: number, calls: number): Promise<boolean> {
    return this.authorizeWrite(ref, k, 'SET remainingUsd = remainingUsd - :a ADD inFlight :n', {
      condition: 'remainingUsd >= :a AND ',
      values: { ':a': amount, ':n': calls },
    });
  }

  /**
   * Credits `chunk` drawn from the job's record (at least `amount`) to shard `k`, creating it when
   * absent, and takes `amount` from it for a call, in one write; false when it is stopped or closed.
   */
  fundAndTake(ref: JobRef, k: number, chunk: number, amount: number): Promise<boolean> {
    return this.authorizeWrite(
      ref,
      k,
      'SET remainingUsd = if_not_exists(remainingUsd, :zero) + :net ADD inFlight :one',
      { condition: '', values: { ':net': usd(chunk - amount), ':zero': 0, ':one': 1 } },
    );
  }

  /** Gives every shard `share` of a new job's reservation (before the job is stored: no call yet). */
  async fundAll(ref: JobRef, share: number): Promise<void> {
    await writeBatch(
      this.client,
      this.tableName,
      SHARD_INDEXES.map((k) => ({ PutRequest: { Item: { ...this.key(ref, k), remainingUsd: share } } })),
    );
  }

  private async authorizeWrite(
    ref: JobRef,
    k: number,
    update: string,
    opts: { condition: string; values: Record<string, number> },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(ref, k),
          UpdateExpression: update,
          ConditionExpression: `${opts.condition}attribute_not_exists(stopped) AND attribute_not_exists(closed)`,
          ExpressionAttributeValues: opts.values,
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  /**
   * Gives `returnUsd` (what an authorization did not cost) back to shard `k` and counts the call
   * ended. Returns the shard as it is after that, or undefined when it does not exist. The
   * completions of one shard asked while a write to it is on its way go together in the next, and
   * each of them gets the shard as it is after all of them.
   */
  complete(ref: JobRef, k: number, returnUsd: number): Promise<Record<string, unknown> | undefined> {
    return this.completions.ask(this.coalesceKey(ref, k), { ref, k, amount: returnUsd });
  }

  private async completeTogether(asks: ShardAsk[]): Promise<(Record<string, unknown> | undefined)[]> {
    const [first] = asks;
    if (!first) return [];
    const back = usd(asks.reduce((sum, a) => sum + a.amount, 0));
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(first.ref, first.k),
          UpdateExpression: 'SET remainingUsd = remainingUsd + :d ADD inFlight :minus',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':d': back, ':minus': -asks.length },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return asks.map(() => out.Attributes);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return asks.map(() => undefined);
    }
  }

  /** Sets `marker` on every shard (creating the absent ones), all at once; idempotent. */
  async markAll(ref: JobRef, marker: 'stopped' | 'closed'): Promise<void> {
    await Promise.all(
      SHARD_INDEXES.map((k) =>
        this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.key(ref, k),
            UpdateExpression: 'SET #m = :t',
            ExpressionAttributeNames: { '#m': marker },
            ExpressionAttributeValues: { ':t': true },
          }),
        ),
      ),
    );
  }

  /** Every existing shard of the job (consistent reads, one batch). */
  async readAll(ref: JobRef): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let request: Record<string, { Keys: Record<string, string>[]; ConsistentRead: boolean }> | undefined = {
      [this.tableName]: { Keys: SHARD_INDEXES.map((k) => this.key(ref, k)), ConsistentRead: true },
    };
    while (request && Object.keys(request).length > 0) {
      const out = await this.client.send(new BatchGetCommand({ RequestItems: request }));
      items.push(...(out.Responses?.[this.tableName] ?? []));
      request = out.UnprocessedKeys as typeof request;
    }
    return items;
  }

  /** The job's calls in flight over all shards, read now (after whatever the caller wrote). */
  async calls(ref: JobRef): Promise<ShardCalls> {
    const shards = await this.readAll(ref);
    return {
      allStopped: shards.length === BUDGET_SHARDS && shards.every((s) => s.stopped === true),
      inFlight: shards.reduce((n, s) => n + Number(s.inFlight ?? 0), 0),
    };
  }

  /**
   * Takes the unused money of every shard back (a job tops up from the tenant, or is refused, only
   * when none of its shards holds any unused). Returns the sum taken,
   * which the caller credits to the job's budget record. A shard that moved since it was read is
   * left as it is (its condition fails); a crash in between leaves money out of the gate, never
   * more in it.
   */
  async reclaim(ref: JobRef): Promise<number> {
    const shards = await this.readAll(ref);
    const taken = await Promise.all(
      shards.map(async (shard) => {
        const amount = usd(Number(shard.remainingUsd ?? 0));
        if (amount <= 0) return 0;
        try {
          await this.client.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: { pk: shard.pk, sk: shard.sk },
              UpdateExpression: 'SET remainingUsd = remainingUsd - :r',
              ConditionExpression: 'remainingUsd >= :r',
              ExpressionAttributeValues: { ':r': amount },
            }),
          );
          return amount;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
          return 0;
        }
      }),
    );
    return usd(taken.reduce((a, b) => a + b, 0));
  }
}
