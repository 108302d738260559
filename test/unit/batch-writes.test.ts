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

  it('with lanes, sends the next puts while a request is on its way, up to that many at once', async () => {
    // Prepare: 2 lanes, requests of 2 items
    const t = table();
    const writes = new BatchWrites(t.writeAll, 2, 2);
    // Act: six puts at once
    const puts = ['A', 'B', 'C', 'D', 'E', 'F'].map((sk) => writes.put([item(sk)]));
    await turn();
    // Assess: the puts of one turn filled both lanes at once, two each; the rest wait for a lane
    expect([0, 1].map(t.skOf)).toEqual([
      ['A', 'B'],
      ['C', 'D'],
    ]);
    expect(t.sent).toHaveLength(2);
    t.sent[1]?.answer.resolve();
    await turn();
    expect(t.skOf(2)).toEqual(['E', 'F']);
    expect(t.sent).toHaveLength(3);
    t.sent[0]?.answer.resolve();
    t.sent[2]?.answer.resolve();
    await Promise.all(puts);
  });

  it('with lanes, holds a key back while a request with it is on its way, so its writes land in order', async () => {
    // Prepare: a write of A on its way
    const t = table();
    const writes = new BatchWrites(t.writeAll, 25, 4);
    const first = writes.put([item('A', 1)]);
    await turn();
    // Act: A again, then B, while the first is on its way
    const again = writes.put([item('A', 2)]);
    const other = writes.put([item('B')]);
    await turn();
    // Assess: nothing more goes (the queue's head is A); once A's request is back, both go together
    expect(t.sent).toHaveLength(1);
    t.sent[0]?.answer.resolve();
    await first;
    await turn();
    expect(t.sent[1]?.items).toEqual([item('A', 2), item('B')]);
    t.sent[1]?.answer.resolve();
    await Promise.all([again, other]);
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

  it('with lanes, holds back a caller any one of whose keys is on its way, not only one whose keys all are', async () => {
    // Prepare: a write of A on its way, a second lane free
    const t = table();
    const writes = new BatchWrites(t.writeAll, 25, 2);
    const first = writes.put([item('A', 1)]);
    await turn();
    // Act: B and A together, while A is on its way
    const mixed = writes.put([item('B'), item('A', 2)]);
    await turn();
    // Assess: the second lane stays unused until A's request is back
    expect(t.sent).toHaveLength(1);
    t.sent[0]?.answer.resolve();
    await first;
    await turn();
    expect(t.sent[1]?.items).toEqual([item('B'), item('A', 2)]);
    t.sent[1]?.answer.resolve();
    await mixed;
  });

  it('writes nothing for an empty put, and queues a caller of exactly one request’s items like any other', async () => {
    const t = table();
    const writes = new BatchWrites(t.writeAll, 2);
    await writes.put([]);
    expect(t.sent).toHaveLength(0);
    const first = writes.put([item('X')]);
    await turn();
    const full = writes.put([item('A'), item('B')]);
    await turn();
    expect(t.sent).toHaveLength(1); // waits for the request on its way, not alone at once
    t.sent[0]?.answer.resolve();
    await first;
    await turn();
    expect(t.skOf(1)).toEqual(['A', 'B']);
    t.sent[1]?.answer.resolve();
    await full;
  });
});
