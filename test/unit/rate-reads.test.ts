import { describe, expect, it } from 'vitest';
import type { RateRead } from '#shared/adapters/dynamo/limiter-items';
import { RateReads } from '#shared/adapters/dynamo/rate-reads';

/** A table whose reads the test answers one by one; each read says which it was. */
function table() {
  const sent: { deadline: number; answer: PromiseWithResolvers<RateRead> }[] = [];
  const read = (deadline: number) => {
    const answer = Promise.withResolvers<RateRead>();
    sent.push({ deadline, answer });
    return answer.promise;
  };
  const reply = (i: number) =>
    sent[i]?.answer.resolve({ exists: true, rate: { cooldownUntil: i } } as unknown as RateRead);
  return { sent, read, reply };
}
const turn = () => new Promise((r) => setImmediate(r));

describe('RateReads', () => {
  it('gives the callers who asked during a read the next read, sent after they asked, one for all', async () => {
    const t = table();
    const reads = new RateReads(t.read);
    const first = reads.next(1_000);
    await turn();
    const during = [reads.next(900), reads.next(800), reads.next(700)];
    await turn();
    expect(t.sent).toHaveLength(1);
    t.reply(0);
    expect((await first).rate.cooldownUntil).toBe(0);
    await turn();
    expect(t.sent).toHaveLength(2);
    // The earliest deadline of those waiting bounds the shared read.
    expect(t.sent[1]?.deadline).toBe(700);
    t.reply(1);
    for (const read of await Promise.all(during)) expect(read.rate.cooldownUntil).toBe(1);
  });

  it('reads again for a caller who asks after the last read came back', async () => {
    const t = table();
    const reads = new RateReads(t.read);
    const a = reads.next(1_000);
    await turn();
    t.reply(0);
    await a;
    const b = reads.next(1_000);
    await turn();
    expect(t.sent).toHaveLength(2);
    t.reply(1);
    expect((await b).rate.cooldownUntil).toBe(1);
  });

  it('fails only the callers of the read that failed', async () => {
    const t = table();
    const reads = new RateReads(t.read);
    const a = reads.next(1_000);
    await turn();
    const b = reads.next(1_000);
    t.sent[0]?.answer.reject(new Error('throttled'));
    await expect(a).rejects.toThrow('throttled');
    await turn();
    t.reply(1);
    expect((await b).rate.cooldownUntil).toBe(1);
  });
});
