import type { SlotLease } from '#shared/domain/limiter-rules';
import { Coalescer, KeyedCoalescers } from './coalescer';
import type { LimiterItems } from './limiter-items';

/** How long the writes of {@link LimiterSlots.freeHeld} keep retrying a throttled table. */
export const HELD_RELEASE_BUDGET_MS = 5_000;

interface Claim {
  slot: number;
  lease: Omit<SlotLease, 'slot'>;
  deadline: number;
}

/**
 * The concurrency slots of a provider key, `slotsPerItem` to an item (`SLOT#nnnnn`, named by its
 * first slot): slot n is the lease map `l{i}` and the count of grants `u{i}` of its item, i = n mod
 * `slotsPerItem`. Each write of a slot is conditioned on that slot alone, so callers of other slots
 * of the item never make it fail.
 *
 * The claims and frees of one item that the callers of a process ask while a write to it is on its
 * way go together in the next ({@link Coalescer}): one conditional update for all of them. With one
 * slot to an item (the default: a Lambda runs one caller) nothing goes together and every item
 * stays small; where one process runs many callers (the embedded stack: every sub-agent of a job)
 * a hundred claims are a few updates, not a hundred.
 */
export class LimiterSlots {
  private readonly claims = new KeyedCoalescers<Claim, number | undefined>(
    () =>
      new Coalescer(
        (waiting) => distinctPrefix(waiting.map((c) => c.slot)),
        (asks) => this.claimTogether(asks),
      ),
  );
  private readonly frees = new KeyedCoalescers<number, undefined>(
    () =>
      new Coalescer(
        (waiting) => distinctPrefix(waiting),
        async (asks) => {
          await this.freeTogether(asks);
          return asks.map(() => undefined);
        },
      ),
  );

  constructor(private readonly io: LimiterItems) {}

  /** Claims a free (or expired) slot: its count of grants after the claim, or undefined if another caller holds it. */
  claim(slot: number, lease: Omit<SlotLease, 'slot'>, deadline: number): Promise<number | undefined> {
    return this.claims.ask(this.io.slotItemKey(slot), { slot, lease, deadline });
  }

  /**
   * One update for all `asks` (distinct slots of one item), each slot's condition its own; when one
   * of them is held, each is tried alone, in order, so the free ones are still claimed.
   */
  private async claimTogether(asks: Claim[]): Promise<(number | undefined)[]> {
    const together = await this.claimWrite(asks);
    if (together || asks.length === 1) return together ?? [undefined];
    const alone: (number | undefined)[] = [];
    for (const ask of asks) alone.push((await this.claimWrite([ask]))?.[0]);
    return alone;
  }

  private async claimWrite(asks: Claim[]): Promise<number[] | undefined> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':one': 1 };
    const sets: string[] = [];
    const adds: string[] = [];
    const conditions: string[] = [];
    asks.forEach(({ slot, lease }, i) => {
      names[`#l${i}`] = this.io.leaseAttribute(slot);
      names[`#u${i}`] = this.io.usesAttribute(slot);
      values[`:l${i}`] = { ...lease };
      values[`:at${i}`] = lease.acquiredAt;
      sets.push(`#l${i} = :l${i}`);
      adds.push(`#u${i} :one`);
      conditions.push(`(attribute_not_exists(#l${i}) OR #l${i}.expiresAt <= :at${i})`);
    });
    const first = asks[0] as Claim;
    const out = await this.io.update(
      {
        UpdateExpression: `SET ${sets.join(', ')}, #ttl = :ttl ADD ${adds.join(', ')}`,
        ConditionExpression: conditions.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        // The claimed slots' counts are all it reads back, not the item's other leases.
        ReturnValues: 'UPDATED_NEW',
      },
      Math.min(...asks.map((a) => a.deadline)),
      this.io.slotItemKey(first.slot),
    );
    if (!out) return undefined;
    return asks.map(({ slot }) => Number(out.Attributes?.[this.io.usesAttribute(slot)] ?? 1));
  }

  /** Renews a lease held while waiting (true), unless it expired and another caller took the slot. */
  async renew(slot: number, leaseId: string, acquiredAt: number, expiresAt: number, deadline: number) {
    const out = await this.io.update(
      {
        UpdateExpression: 'SET #l.acquiredAt = :at, #l.expiresAt = :exp',
        ConditionExpression: '#l.id = :id',
        ExpressionAttributeNames: { '#l': this.io.leaseAttribute(slot) },
        ExpressionAttributeValues: { ':id': leaseId, ':at': acquiredAt, ':exp': expiresAt },
        ReturnValues: 'NONE',
      },
      deadline,
      this.io.slotItemKey(slot),
    );
    return out !== undefined;
  }

  /**
   * Frees a slot that this caller holds with time to spare on its lease: no other caller can have
   * taken it, so the write needs no condition and goes with the frees of the item's other slots
   * that this process asks meanwhile. Its retries give up after {@link HELD_RELEASE_BUDGET_MS}.
   */
  freeHeld(slot: number): Promise<void> {
    return this.frees.ask(this.io.slotItemKey(slot), slot) as Promise<void>;
  }

  private async freeTogether(slots: number[]): Promise<void> {
    const names = Object.fromEntries(slots.map((slot, i) => [`#l${i}`, this.io.leaseAttribute(slot)]));
    await this.io.update(
      {
        UpdateExpression: `REMOVE ${slots.map((_, i) => `#l${i}`).join(', ')} SET #ttl = :ttl`,
        ExpressionAttributeNames: names,
        ReturnValues: 'NONE',
      },
      this.io.clock.now() + HELD_RELEASE_BUDGET_MS,
      this.io.slotItemKey(slots[0] as number),
    );
  }

  /** Frees a slot if it is still this lease's (an expired lease may have been taken over). */
  async free(slot: number, leaseId: string, deadline: number): Promise<void> {
    await this.io.update(
      {
        UpdateExpression: 'REMOVE #l SET #ttl = :ttl',
        ConditionExpression: '#l.id = :id',
        ExpressionAttributeNames: { '#l': this.io.leaseAttribute(slot) },
        ExpressionAttributeValues: { ':id': leaseId },
        ReturnValues: 'NONE',
      },
      deadline,
      this.io.slotItemKey(slot),
    );
  }
}

/** How many of `slots`, from the first, are distinct (one update may set a slot once). */
function distinctPrefix(slots: readonly number[]): number {
  const seen = new Set<number>();
  for (const slot of slots) {
    if (seen.has(slot)) break;
    seen.add(slot);
  }
  return seen.size;
}
