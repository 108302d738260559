import { describe, expect, it } from 'vitest';
import { keys, providerKeys } from '#shared/adapters/dynamo/keys';

/** DynamoDB sorts sort keys as strings: numbered keys must sort in their numbers' order. */
const sortsInOrder = (make: (n: number) => string, upTo: number) => {
  const made = Array.from({ length: upTo + 1 }, (_, n) => make(n));
  expect([...made].sort()).toEqual(made);
};

describe('the table keys', () => {
  it("sort an agent's steps in step order, past step 9 and 99", () => {
    sortsInOrder((n) => keys.step(1, 'sub', 'a', n), 120);
  });

  it("sort a job's budget shards in shard order, past shard 9", () => {
    sortsInOrder((n) => keys.budgetShard(n), 20);
  });

  it("sort a provider key's slots in slot order, past slot 9, 99 and 999", () => {
    sortsInOrder((n) => providerKeys.slot(n), 1200);
  });

  it('keep the stored layout of step, shard, attempt-counter and slot keys', () => {
    expect(keys.step(2, 'sub', 'a-1', 7)).toBe('STEP#002#sub#a-1#00007');
    expect(keys.attempts(2, 'sub', 3)).toBe('ATTEMPTS#002#sub#0003');
    expect(keys.budgetShard(3)).toBe('BUDGET#03');
    expect(providerKeys.slot(12)).toBe('SLOT#00012');
  });
});
