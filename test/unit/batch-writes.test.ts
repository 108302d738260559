import { describe, expect, it } from 'vitest';
import { BatchWrites } from '#shared/adapters/dynamo/batch-writes';

/** A table whose requests the test answers one by one. */
function table() {
  const sent: { items: readonly Record<string, unknown>[]; answer: PromiseWithResolvers<void> }[] = [];
  const writeAll = (items: readonly Record<string, unknown>[]) => {
    const answer = Promise.withResolvers<void>();
    sent.push({ items, answer });
    return answer.promise;
  };
  const skOf = (i: number) => sent[i]?.items.map((item) => item.sk);
  return { sent, writeAll, skOf };
}
const item = (sk: string, v = 0) => ({ pk: 'JOB#1', sk, v });
const turn = () => new Promise((r) => setImmediate(r));

describe('BatchWrites', () => {
  it('sends the puts made during a request together in the next, each caller’s items whole and in order', async () => {
    const t = table();
    const writes = new BatchWrites(t.writeAll, 25);
    const first = writes.put([item('STEP#1')]);
    await turn();
    const a = writes.put([item('RESULT#a'), item('AGENT#a')]);
    const b = writes.put([item('STEP#2')]);
    await turn();
    expect(t.sent).toHaveLength(1);
    t.sent[0]?.answer.resolve();
    await first;
    await turn();
    expect(t.skOf(1)).toEqual(['RESULT#a', 'AGENT#a', 'STEP#2']);
    t.sent[1]?.answer.resolve();
    await Promise.all([a, b]);
  });

  it('never splits a caller, never passes the request’s size, never puts one key twice in a request', async () => {
    const t = table();
    const writes = new BatchWrites(t.writeAll, 3);
    const first = writes.put([item('X')]);
    await turn();
    const waiting = [
      writes.put([item('A'), item('B')]),
      writes.put([item('C'), item('D')]), // would make 4: next request
      writes.put([item('D', 1)]), // D again: the request after
    ];
    t.sent[0]?.answer.resolve();
    await first;
    for (let i = 1; i <= 3; i++) {
      await turn();
      t.sent[i]?.answer.resolve();
    }
    await Promise.all(waiting);
    expect([1, 2, 3].map(t.skOf)).toEqual([['A', 'B'], ['C', 'D'], ['D']]);
  });

  it('lets a caller with more than one request’s items go alone, and fails only the callers of a failed request', async () => {
    const t = table();
    const writes = new BatchWrites(t.writeAll, 2);
    const big = writes.put([item('A'), item('B'), item('C')]);
    expect(t.skOf(0)).toEqual(['A', 'B', 'C']);
    const a = writes.put([item('D')]);
    await turn();
    const b = writes.put([item('E')]);
    t.sent[1]?.answer.reject(new Error('throttled'));
    await expect(a).rejects.toThrow('throttled');
    await turn();
    t.sent[2]?.answer.resolve();
    t.sent[0]?.answer.resolve();
    await Promise.all([b, big]);
    expect(t.skOf(2)).toEqual(['E']);
  });
});
