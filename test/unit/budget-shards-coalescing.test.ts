import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { BUDGET_SHARDS, BudgetShards, shardOf } from '#shared/adapters/dynamo/budget-shards';
import { Coalescer, KeyedCoalescers } from '#shared/adapters/dynamo/coalescer';
import type { JobRef } from '#shared/ports/job-store';

type Answer = { ok: true; attributes?: Record<string, unknown> } | { ok: false };

/** A client whose updates the test answers one by one; each update is kept with its input. */
function client() {
  const sent: { input: UpdateCommand['input']; answer: PromiseWithResolvers<Answer> }[] = [];
  const send = async (command: UpdateCommand) => {
    const answer = Promise.withResolvers<Answer>();
    sent.push({ input: command.input, answer });
    const a = await answer.promise;
    if (!a.ok) throw new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });
    return { Attributes: a.attributes };
  };
  return { sent, doc: { send } as unknown as DynamoDBDocumentClient };
}
const turn = () => new Promise((r) => setImmediate(r));
const job: JobRef = { tenantId: 't1', jobId: 'j1' };
const values = (input: UpdateCommand['input'] | undefined) => input?.ExpressionAttributeValues ?? {};

describe('BudgetShards: the takes and completions of one shard go together', () => {
  it('takes asked while a take is on its way go in the next write, the sum at once', async () => {
    const c = client();
    const shards = new BudgetShards(c.doc, 'table');
    const first = shards.take(job, 3, 0.5);
    await turn();
    const during = [shards.take(job, 3, 0.25), shards.take(job, 3, 0.125), shards.take(job, 3, 0.1)];
    await turn();
    expect(c.sent).toHaveLength(1);
    expect(values(c.sent[0]?.input)).toEqual({ ':a': 0.5, ':n': 1 });
    c.sent[0]?.answer.resolve({ ok: true });
    expect(await first).toBe(true);
    await turn();
    expect(c.sent).toHaveLength(2);
    // One write takes 0.475 and counts three calls, on the same shard's item.
    expect(values(c.sent[1]?.input)).toEqual({ ':a': 0.475, ':n': 3 });
    expect(c.sent[1]?.input.Key).toEqual(c.sent[0]?.input.Key);
    expect(c.sent[1]?.input.ConditionExpression).toContain('remainingUsd >= :a');
    c.sent[1]?.answer.resolve({ ok: true });
    expect(await Promise.all(during)).toEqual([true, true, true]);
  });

  it('short of the sum, tries each take alone in order, so the ones that fit still do', async () => {
    const c = client();
    const shards = new BudgetShards(c.doc, 'table');
    const first = shards.take(job, 0, 1);
    await turn();
    const during = [shards.take(job, 0, 0.5), shards.take(job, 0, 2)];
    c.sent[0]?.answer.resolve({ ok: true });
    await first;
    await turn();
    expect(values(c.sent[1]?.input)).toEqual({ ':a': 2.5, ':n': 2 });
    c.sent[1]?.answer.resolve({ ok: false });
    await turn();
    expect(values(c.sent[2]?.input)).toEqual({ ':a': 0.5, ':n': 1 });
    c.sent[2]?.answer.resolve({ ok: true });
    await turn();
    expect(values(c.sent[3]?.input)).toEqual({ ':a': 2, ':n': 1 });
    c.sent[3]?.answer.resolve({ ok: false });
    expect(await Promise.all(during)).toEqual([true, false]);
    expect(c.sent).toHaveLength(4);
  });

  it('never makes the takes of another shard or another job wait', async () => {
    const c = client();
    const shards = new BudgetShards(c.doc, 'table');
    const taken = [
      shards.take(job, 1, 0.5),
      shards.take(job, 2, 0.5),
      shards.take({ tenantId: 't1', jobId: 'j2' }, 1, 0.5),
    ];
    await turn();
    expect(c.sent).toHaveLength(3);
    for (const s of c.sent) s.answer.resolve({ ok: true });
    expect(await Promise.all(taken)).toEqual([true, true, true]);
  });

  it('completions asked meanwhile give back their sum and uncount all their calls in one write, each seeing the shard after all', async () => {
    const c = client();
    const shards = new BudgetShards(c.doc, 'table');
    const first = shards.complete(job, 5, 0.1);
    await turn();
    const during = [shards.complete(job, 5, 0.2), shards.complete(job, 5, 0)];
    c.sent[0]?.answer.resolve({ ok: true, attributes: { inFlight: 2 } });
    expect(await first).toEqual({ inFlight: 2 });
    await turn();
    expect(c.sent).toHaveLength(2);
    expect(values(c.sent[1]?.input)).toEqual({ ':d': 0.2, ':minus': -2 });
    c.sent[1]?.answer.resolve({ ok: true, attributes: { inFlight: 0, stopped: true } });
    expect(await Promise.all(during)).toEqual([
      { inFlight: 0, stopped: true },
      { inFlight: 0, stopped: true },
    ]);
  });

  it('gives every completion of a shard that does not exist undefined', async () => {
    const c = client();
    const shards = new BudgetShards(c.doc, 'table');
    const first = shards.complete(job, 5, 0.1);
    await turn();
    const during = shards.complete(job, 5, 0.2);
    c.sent[0]?.answer.resolve({ ok: false });
    expect(await first).toBeUndefined();
    await turn();
    c.sent[1]?.answer.resolve({ ok: false });
    expect(await during).toBeUndefined();
  });
});

describe('KeyedCoalescers', () => {
  it('keeps a coalescer only while its key has a request on its way or waiting', async () => {
    const pending: PromiseWithResolvers<number[]>[] = [];
    const keyed = new KeyedCoalescers<number, number>(
      () =>
        new Coalescer(
          (waiting) => waiting.length,
          () => {
            const p = Promise.withResolvers<number[]>();
            pending.push(p);
            return p.promise;
          },
        ),
    );
    const a = keyed.ask('x', 1);
    const b = keyed.ask('y', 2);
    await turn();
    expect(keyed.size).toBe(2);
    const c = keyed.ask('x', 3);
    pending[0]?.resolve([10]);
    expect(await a).toBe(10);
    // 'x' still has c waiting: kept.
    expect(keyed.size).toBe(2);
    pending[1]?.resolve([20]);
    expect(await b).toBe(20);
    await turn();
    pending[2]?.resolve([30]);
    expect(await c).toBe(30);
    expect(keyed.size).toBe(0);
  });
});

describe('shardOf', () => {
  it('spreads the numbered sub-agents of a job evenly over the shards (6 or 7 of 100 on each)', () => {
    const counts = new Array<number>(BUDGET_SHARDS).fill(0);
    for (let n = 1; n <= 100; n++) counts[shardOf(`agent-${String(n).padStart(4, '0')}`)]! += 1;
    expect(Math.min(...counts)).toBe(6);
    expect(Math.max(...counts)).toBe(7);
  });

  it('gives a later stage’s sub-agent its number’s shard, and names without a number a shard still', () => {
    expect(shardOf('s2-agent-0017')).toBe(17 % BUDGET_SHARDS);
    for (const name of ['synthesizer', 'planner', '']) {
      const k = shardOf(name);
      expect(Number.isInteger(k) && k >= 0 && k < BUDGET_SHARDS).toBe(true);
      expect(shardOf(name)).toBe(k);
    }
  });

  it.each([
    // FNV-1a (32-bit) test vectors of its authors: 'a' → 0xe40c292c, 'foobar' → 0xbf9cf968
    ['a', 0xe40c292c % BUDGET_SHARDS],
    ['foobar', 0xbf9cf968 % BUDGET_SHARDS],
  ])('puts a name without a number on the shard of its FNV-1a hash (%s)', (name, shard) => {
    expect(shardOf(name)).toBe(shard);
  });
});
