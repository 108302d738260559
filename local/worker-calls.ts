import type { Worker } from 'node:worker_threads';

/**
 * The calls a local part makes to its worker thread (dynalite's, the simulator's), matched to their
 * answers by id. When the thread fails or exits, every call still waiting fails with its error, and
 * so does every later call.
 */
export class WorkerCalls<T> {
  private readonly waiting = new Map<number, { resolve(value: T): void; reject(error: Error): void }>();
  private nextId = 0;
  /** Why the thread stopped (its last error), once it did. */
  stopped: Error | undefined;
  /** Resolves once the thread has exited. */
  readonly exited: Promise<void>;

  constructor(worker: Worker, exitError: () => Error, onFail: (error: Error) => void = () => {}) {
    const fail = (error: Error) => {
      this.stopped = error;
      onFail(error);
      for (const call of this.waiting.values()) call.reject(error);
      this.waiting.clear();
    };
    worker.on('error', fail);
    this.exited = new Promise<void>((resolve) =>
      worker.once('exit', () => {
        fail(exitError());
        resolve();
      }),
    );
  }

  /** Posts the call with a fresh id (`post`) and resolves with the answer that carries that id. */
  call(post: (id: number) => void): Promise<T> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    const answer = new Promise<T>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    post(id);
    return answer;
  }

  /** Ends the call with `id`: its value, or an error. */
  settle(id: number, outcome: { value: T } | { error: Error }): void {
    const call = this.waiting.get(id);
    this.waiting.delete(id);
    if ('value' in outcome) call?.resolve(outcome.value);
    else call?.reject(outcome.error);
  }
}
