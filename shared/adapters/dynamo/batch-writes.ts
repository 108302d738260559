import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Coalescer } from './coalescer';
import { chunks } from './items';

type Item = Record<string, unknown>;

/** Items of one BatchWriteItem (DynamoDB's most). */
export const BATCH_WRITE_MAX = 25;

const idOf = (item: Item): string => `${String(item.pk)}\u0000${String(item.sk)}`;

/**
 * The unconditional puts that the callers of one process make at once, sent together
 * ({@link Coalescer}) up to one request's `maxItems`, in up to `lanes` requests at once. A caller's
 * items always travel in one request, in its order, and no request holds one key twice (DynamoDB
 * refuses that): a clash starts the next request. A key on its way in one lane waits for that
 * request before another lane takes it, so two writes of one key land in the order they were asked.
 * The step records and agent records of a hundred sub-agents ending together: a few requests, not
 * two hundred. A caller with more than `maxItems` items goes alone.
 */
export class BatchWrites {
  private readonly writes: Coalescer<readonly Item[], undefined>;
  /** The keys of the requests on their way (a key is in one at most: the others wait for it). */
  private readonly flying = new Set<string>();

  constructor(
    /** Writes one request's items (unprocessed ones again) or throws. */
    private readonly writeAll: (items: readonly Item[]) => Promise<void>,
    private readonly maxItems: number,
    lanes = 1,
  ) {
    this.writes = new Coalescer(
      (waiting) => {
        const ids = new Set<string>();
        let n = 0;
        for (const items of waiting) {
          if (ids.size + items.length > maxItems) break;
          if (items.some((i) => ids.has(idOf(i)) || this.flying.has(idOf(i)))) break;
          for (const i of items) ids.add(idOf(i));
          n += 1;
        }
        return n;
      },
      async (asks) => {
        const items = asks.flat();
        const ids = items.map(idOf);
        for (const id of ids) this.flying.add(id);
        try {
          await writeAll(items);
        } finally {
          for (const id of ids) this.flying.delete(id);
        }
        return asks.map(() => undefined);
      },
      lanes,
    );
  }

  /** Resolves once every item of `items` is stored. */
  async put(items: readonly Item[]): Promise<void> {
    if (items.length === 0) return;
    if (items.length > this.maxItems) return this.writeAll(items);
    await this.writes.ask(items);
  }
}

/** BatchWriteItems of one {@link putInBatches} on their way at once. */
const PUT_LANES = 4;

/**
 * One BatchWriteItem of `requests` (at most 25), sent again with what DynamoDB left unprocessed
 * after a jittered, growing pause, for up to ten rounds.
 */
export async function writeBatch(
  client: DynamoDBDocumentClient,
  tableName: string,
  requests: Record<string, unknown>[],
): Promise<void> {
  let pending = requests;
  for (let round = 0; pending.length > 0; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** round) * Math.random()));
    const out = await client.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending } }));
    pending = (out.UnprocessedItems?.[tableName] ?? []) as Record<string, unknown>[];
    if (round > 8 && pending.length > 0)
      throw new Error(`BatchWrite left ${pending.length} items unprocessed`);
  }
}

/**
 * Puts `items` (distinct keys) in BatchWriteItems of 25, {@link PUT_LANES} of them on their way at
 * once: a job's 1,000 subtasks are 40 requests, which one after another took 130 ms of the job's
 * wall-clock locally (and a round trip each in AWS). After a failure no lane takes another part,
 * and the put rejects, with the first failure, once the parts on their way have ended.
 */
export async function putInBatches(
  client: DynamoDBDocumentClient,
  tableName: string,
  items: readonly Record<string, unknown>[],
): Promise<void> {
  const parts = chunks(items, BATCH_WRITE_MAX);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < parts.length) {
      const part = parts[next++]!;
      try {
        await writeBatch(
          client,
          tableName,
          part.map((Item) => ({ PutRequest: { Item } })),
        );
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(PUT_LANES, parts.length) }, lane));
  const failure = lanes.find((l) => l.status === 'rejected');
  if (failure) throw failure.reason;
}
