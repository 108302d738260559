import { describe, expect, it } from 'vitest';
import { BatchGets, type ItemKey } from '#shared/adapters/dynamo/batch-gets';

/** A table of items `pk`/`sk` → value whose requests the test answers one by one. */
function table() {
  const sent: { keys: readonly ItemKey[]; answer: PromiseWithResolvers<Record<string, unknown>[]> }[] = [];
  const getAll = (keys: readonly ItemKey[]) => {
    const answer = Promise.withResolvers<Record<string, unknown>[]>();
    sent.push({ keys, answer });
    return answer.promise;
  };
  // Every asked key exists except sk "missing".
  const reply = (i: number) =>
    sent[i]?.answer.resolve(
      sent[i].keys.filter((k) => k.sk !== 'missing').map((k) => ({ ...k, value: `${k.sk}@${i}` })),
    );
  return { sent, getAll, reply };
}
const key = (sk: string): ItemKey => ({ pk: 'JOB#1', sk });
const turn = () => new Promise((r) => setImmediate(r));
const values = (items: Record<string, unknown>[]) => items.map((i) => i.value).sort();

describe('BatchGets', () => {
  it('with lanes, sends a second request while one is on its way, and each caller gets the answer of its own', async () => {
    // Prepare: 2 lanes
    const t = table();
    const gets = new BatchGets(t.getAll, 100, 2);
    // Act: a reader, then two more while its request is on its way
    const a = gets.get([key('JOB'), key('S1')]);
    await turn();
    const b = gets.get([key('JOB'), key('S2')]);
    const c = gets.get([key('S3')]);
    await turn();
    // Assess: two requests on their way, the third reader waits for a lane
    expect(t.sent.map((r) => r.keys.map((k) => k.sk))).toEqual([
      ['JOB', 'S1'],
      ['JOB', 'S2'],
    ]);
    t.reply(1);
    expect(values(await b)).toEqual(['JOB@1', 'S2@1']);
    await turn();
    expect(t.sent[2]?.keys.map((k) => k.sk)).toEqual(['S3']);
    t.reply(0);
    t.reply(2);
    expect(values(await a)).toEqual(['JOB@0', 'S1@0']);
    expect(values(await c)).toEqual(['S3@2']);
  });

  it('sends the readers of one turn together in one request, each key once, each its own items', async () => {
    // Prepare
    const t = table();
    const gets = new BatchGets(t.getAll, 100, 2);
    // Act: three readers in one turn
    const a = gets.get([key('JOB'), key('S1')]);
    const b = gets.get([key('JOB'), key('S2')]);
    const c = gets.get([key('S3')]);
    await turn();
    // Assess: one request, not the first alone
    expect(t.sent.map((r) => r.keys.map((k) => k.sk))).toEqual([['JOB', 'S1', 'S2', 'S3']]);
    t.reply(0);
    expect(values(await a)).toEqual(['JOB@0', 'S1@0']);
    expect(values(await b)).toEqual(['JOB@0', 'S2@0']);
    expect(values(await c)).toEqual(['S3@0']);
  });

  it('sends those who ask during a request together in the next, each key once, each caller its own items', async () => {
    const t = table();
    const gets = new BatchGets(t.getAll, 100);
    const first = gets.get([key('JOB'), key('S1')]);
    await turn();
    const a = gets.get([key('JOB'), key('S2')]);
    const b = gets.get([key('JOB'), key('S3'), key('missing')]);
    await turn();
    expect(t.sent).toHaveLength(1);
    t.reply(0);
    expect(values(await first)).toEqual(['JOB@0', 'S1@0']);
    await turn();
    expect(t.sent).toHaveLength(2);
    expect(t.sent[1]?.keys.map((k) => k.sk)).toEqual(['JOB', 'S2', 'S3', 'missing']);
    t.reply(1);
    expect(values(await a)).toEqual(['JOB@1', 'S2@1']);
    expect(values(await b)).toEqual(['JOB@1', 'S3@1']);
  });

  it('never merges past one request’s keys, and lets a caller with more go alone', async () => {
    const t = table();
    const gets = new BatchGets(t.getAll, 3);
    const big = gets.get([key('A'), key('B'), key('C'), key('D')]);
    expect(t.sent).toHaveLength(1);
    const first = gets.get([key('E')]);
    await turn();
    const waiting = [gets.get([key('F'), key('G')]), gets.get([key('H'), key('I')])];
    t.reply(0);
    t.reply(1);
    await Promise.all([big, first]);
    await turn();
    expect(t.sent.map((s) => s.keys.length)).toEqual([4, 1, 2]);
    t.reply(2);
    await waiting[0];
    await turn();
    expect(t.sent.map((s) => s.keys.length)).toEqual([4, 1, 2, 2]);
    t.reply(3);
    expect(values(await waiting[1]!)).toEqual(['H@3', 'I@3']);
  });

  it('merges callers up to exactly one request’s keys, a key asked twice counting once', async () => {
    // Prepare: 3 keys a request; a request on its way
    const t = table();
    const gets = new BatchGets(t.getAll, 3);
    const first = gets.get([key('X')]);
    await turn();
    // Act: [A, B] and [B, C] make 3 distinct keys; [D, E, F] is exactly one request's keys
    const ab = gets.get([key('A'), key('B')]);
    const bc = gets.get([key('B'), key('C')]);
    const full = gets.get([key('D'), key('E'), key('F')]);
    await turn();
    // Assess: the full caller waits its turn too (not alone at once)
    expect(t.sent).toHaveLength(1);
    t.reply(0);
    await first;
    await turn();
    expect(t.sent[1]?.keys.map((k) => k.sk)).toEqual(['A', 'B', 'C']);
    t.reply(1);
    expect([values(await ab), values(await bc)]).toEqual([
      ['A@1', 'B@1'],
      ['B@1', 'C@1'],
    ]);
    await turn();
    expect(t.sent[2]?.keys.map((k) => k.sk)).toEqual(['D', 'E', 'F']);
    t.reply(2);
    expect(values(await full)).toEqual(['D@2', 'E@2', 'F@2']);
  });

  it('fails only the callers of the request that failed', async () => {
    const t = table();
    const gets = new BatchGets(t.getAll, 100);
    const a = gets.get([key('A')]);
    await turn();
    const b = gets.get([key('B')]);
    t.sent[0]?.answer.reject(new Error('throttled'));
    await expect(a).rejects.toThrow('throttled');
    await turn();
    t.reply(1);
    expect(values(await b)).toEqual(['B@1']);
  });
});
