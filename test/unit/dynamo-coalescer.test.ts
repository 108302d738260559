import { describe, expect, it, vi } from 'vitest';
import { Coalescer, KeyedCoalescers } from '#shared/adapters/dynamo/coalescer';

/** A send the test answers request by request: each request's asks, and its answers to give. */
function requests() {
  const sent: { asks: number[]; answer: PromiseWithResolvers<number[]> }[] = [];
  const send = (asks: number[]) => {
    const answer = Promise.withResolvers<number[]>();
    sent.push({ asks, answer });
    return answer.promise;
  };
  /** Answers request i with each ask times ten. */
  const answer = (i: number) => sent[i]?.answer.resolve(sent[i].asks.map((a) => a * 10));
  return { sent, send, answer };
}
const turn = () => new Promise((r) => setImmediate(r));
const all = (waiting: readonly number[]) => waiting.length;

describe('Coalescer', () => {
  it('is idle only with no request on its way and nobody waiting', async () => {
    // Prepare
    const r = requests();
    const c = new Coalescer(all, r.send);
    expect(c.idle).toBe(true);
    // Act: one ask on its way, one waiting behind it
    const first = c.ask(1);
    await turn();
    const second = c.ask(2);
    // Assess
    expect(c.idle).toBe(false);
    r.answer(0);
    expect(await first).toBe(10);
    await turn();
    expect(c.idle).toBe(false); // the second is on its way now
    r.answer(1);
    expect(await second).toBe(20);
    await turn();
    expect(c.idle).toBe(true);
  });

  it('sends the asks of one turn together, the first not before that turn is over', async () => {
    // Prepare
    const r = requests();
    const c = new Coalescer(all, r.send);
    // Act: three asks in one turn
    const answers = [c.ask(1), c.ask(2), c.ask(3)];
    // Assess: nothing sent within the turn, then one request for all three
    expect(r.sent).toHaveLength(0);
    expect(c.idle).toBe(false);
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[1, 2, 3]]);
    r.answer(0);
    expect(await Promise.all(answers)).toEqual([10, 20, 30]);
  });

  it('waits out a turn with one wake-up, however many asks the turn makes', async () => {
    // Prepare
    const r = requests();
    const c = new Coalescer(all, r.send);
    const wakeUps = vi.spyOn(globalThis, 'setImmediate');
    // Act: a hundred asks in one turn
    const answers = Array.from({ length: 100 }, (_, i) => c.ask(i));
    const scheduled = wakeUps.mock.calls.length;
    wakeUps.mockRestore();
    await turn();
    r.answer(0);
    // Assess: one setImmediate for the turn (not one an ask), then one request
    expect(scheduled).toBe(1);
    expect(r.sent).toHaveLength(1);
    expect(await Promise.all(answers)).toEqual(Array.from({ length: 100 }, (_, i) => i * 10));
  });

  it('fills as many lanes as the asks of one turn need, and stops when take holds the rest back', async () => {
    // Prepare: requests of at most two asks; ask 9 goes only as the one lane on its way (take says 0)
    const r = requests();
    const twoButNine = (waiting: readonly number[]) => (waiting[0] === 9 ? 0 : Math.min(2, waiting.length));
    const c = new Coalescer(twoButNine, r.send, 3);
    // Act: five asks in one turn
    const answers = [1, 2, 3, 4, 9, 5].map((n) => c.ask(n));
    await turn();
    // Assess: two lanes went, two asks each; the third lane found 9 first and did not start
    expect(r.sent.map((s) => s.asks)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    r.answer(0);
    await turn();
    expect(r.sent.map((s) => s.asks)).toHaveLength(2); // 9 waits while another lane is on its way
    r.answer(1);
    await turn();
    expect(r.sent.map((s) => s.asks).slice(2)).toEqual([[9]]);
    r.answer(2);
    await turn();
    expect(r.sent.map((s) => s.asks).slice(3)).toEqual([[5]]);
    r.answer(3);
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 90, 50]);
  });

  it('with one lane, sends one request at a time: the asks made meanwhile go together in the next', async () => {
    const r = requests();
    const c = new Coalescer(all, r.send);
    const answers = [c.ask(1)];
    await turn();
    answers.push(c.ask(2), c.ask(3));
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[1]]);
    r.answer(0);
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[1], [2, 3]]);
    r.answer(1);
    expect(await Promise.all(answers)).toEqual([10, 20, 30]);
  });

  it('with two lanes, sends a second request at once, and never a third while two are on their way', async () => {
    const r = requests();
    const c = new Coalescer(all, r.send, 2);
    const answers = [c.ask(1)];
    await turn();
    answers.push(c.ask(2));
    await turn();
    answers.push(c.ask(3), c.ask(4));
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[1], [2]]);
    r.answer(1);
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[1], [2], [3, 4]]);
    r.answer(0);
    r.answer(2);
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40]);
  });

  it('lets a lane end when nothing may go yet, and a lane still on its way takes the asks up', async () => {
    // Prepare: nothing may go while another request is on its way (take answers 0 then)
    const r = requests();
    let blocked = false;
    const c = new Coalescer((waiting) => (blocked ? 0 : waiting.length), r.send, 2);
    const first = c.ask(1);
    await turn();
    blocked = true;
    // Act: the second lane finds nothing it may take and ends without a request
    const second = c.ask(2);
    await turn();
    // Assess
    expect(r.sent.map((s) => s.asks)).toEqual([[1]]);
    blocked = false;
    r.answer(0);
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[1], [2]]);
    r.answer(1);
    expect([await first, await second]).toEqual([10, 20]);
  });

  it('takes at least one ask when it is the only lane, whatever take says', async () => {
    const r = requests();
    const c = new Coalescer(() => 0, r.send, 2);
    const one = c.ask(7);
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[7]]);
    r.answer(0);
    expect(await one).toBe(70);
  });
});

describe('KeyedCoalescers', () => {
  it("keeps a key's coalescer while it is busy, so one key never has two requests on their way", async () => {
    // Prepare
    const r = requests();
    const keyed = new KeyedCoalescers<number, number>(() => new Coalescer(all, r.send));
    // Act: the first ask of key k is answered, and a second ask of k comes while a third waits
    const first = keyed.ask('k', 1);
    await turn();
    const second = keyed.ask('k', 2);
    const other = keyed.ask('j', 3);
    await turn();
    // Assess: k's second ask waits behind its first; j has its own request
    expect(r.sent.map((s) => s.asks)).toEqual([[1], [3]]);
    expect(keyed.size).toBe(2);
    r.answer(0);
    expect(await first).toBe(10);
    await turn();
    expect(keyed.size).toBe(2); // k's second ask is on its way: k's coalescer stays
    const third = keyed.ask('k', 4);
    await turn();
    expect(r.sent.map((s) => s.asks)).toEqual([[1], [3], [2]]);
    r.answer(1);
    r.answer(2);
    expect(await other).toBe(30);
    await turn();
    r.answer(3);
    expect([await second, await third]).toEqual([20, 40]);
    await turn();
    expect(keyed.size).toBe(0); // idle ones are dropped
  });
});
