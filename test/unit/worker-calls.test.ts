import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { WorkerCalls } from '#local/worker-calls';

/** A thread that doubles `n` of each message, ignores `n` 0, and exits on `exit`. */
const doubler = () =>
  new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (m) => {
       if (m.exit) process.exit(0);
       if (m.n !== 0) parentPort.postMessage({ id: m.id, value: m.n * 2 });
     });`,
    { eval: true },
  );

describe('WorkerCalls', () => {
  it('matches each answer to its call by id, and fails the waiting and later calls once the thread exits', async () => {
    // Prepare
    const worker = doubler();
    const failures: Error[] = [];
    const calls = new WorkerCalls<number>(
      worker,
      () => new Error('thread gone'),
      (e) => failures.push(e),
    );
    worker.on('message', (m: { id: number; value: number }) => calls.settle(m.id, { value: m.value }));
    // Act: two answered calls, one the thread never answers, then the thread exits
    const answered = await Promise.all([
      calls.call((id) => worker.postMessage({ id, n: 3 })),
      calls.call((id) => worker.postMessage({ id, n: 5 })),
    ]);
    const unanswered = calls.call((id) => worker.postMessage({ id, n: 0 }));
    worker.postMessage({ exit: true });
    // Assess
    expect(answered).toEqual([6, 10]);
    await expect(unanswered).rejects.toThrow('thread gone');
    await calls.exited;
    expect(calls.stopped?.message).toBe('thread gone');
    expect(failures.map((e) => e.message)).toEqual(['thread gone']);
    let posted = false;
    await expect(calls.call(() => (posted = true))).rejects.toThrow('thread gone');
    expect(posted).toBe(false);
  });

  it('passes an error answer to its caller only', async () => {
    const worker = doubler();
    const calls = new WorkerCalls<number>(worker, () => new Error('thread gone'));
    const failing = calls.call(() => {});
    const other = calls.call((id) => worker.postMessage({ id, n: 1 }));
    worker.on('message', (m: { id: number; value: number }) => calls.settle(m.id, { value: m.value }));
    calls.settle(0, { error: new Error('no such table') });
    await expect(failing).rejects.toThrow('no such table');
    expect(await other).toBe(2);
    worker.postMessage({ exit: true });
    await calls.exited;
  });
});
