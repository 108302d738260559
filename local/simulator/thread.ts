/**
 * The simulator on a worker thread: a provider is another machine, and what the simulator spends
 * answering (HTTP parsing, JSON, its timers) would otherwise queue on the one thread the embedded
 * stack's handlers, state machine and clients share, and lengthen every step it delays. The wide
 * local jobs use it (`parl run`, `parl serve`, the load bench); the tests keep the in-process
 * {@link startSimulator}, whose counters and fault rules they read and change synchronously.
 */
import { createRequire } from 'node:module';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { WorkerCalls } from '#local/worker-calls';
import type { SimulatorOptions, SimulatorStats } from './server';

/** A simulator running on its own thread: the same HTTP endpoint, its counters asked for. */
export interface SimulatorThread {
  /** The OpenAI-style base URL, e.g. `http://127.0.0.1:41234/v1`. */
  baseUrl: string;
  port: number;
  stats(): Promise<SimulatorStats>;
  /**
   * As {@link Simulator.modelledLatencies} (empty unless `recordLatencies`), from the `from`-th on:
   * a caller that reads them run by run is sent only the new ones.
   */
  modelledLatencies(from?: number): Promise<number[]>;
  /** Its thread's event-loop utilisation so far (`performance.eventLoopUtilization()` of the worker). */
  threadUse(): EventLoopUtilization;
  /** Stops the server and the thread. */
  close(): Promise<void>;
}

type FromThread =
  | { listening: { baseUrl: string; port: number } }
  | { failed: string }
  | { id: number; value: SimulatorStats | number[] };

/** tsx's loader, as a URL `--import` takes. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Starts the simulator on a worker thread and resolves once it listens. */
export async function startSimulatorThread(opts: SimulatorOptions = {}): Promise<SimulatorThread> {
  const worker = new Worker(new URL('./simulator-thread.ts', import.meta.url), {
    workerData: opts,
    // The simulator's modules import each other without extensions: tsx resolves them. A worker
    // inherits the loader of a process started by tsx's CLI; otherwise (`parl`, which registers tsx
    // in-process, or a test runner) it is added, found from here whatever the working directory.
    ...(process.execArgv.some((arg) => arg.includes('tsx')) ? {} : { execArgv: ['--import', TSX_LOADER] }),
  });
  const listening = Promise.withResolvers<{ baseUrl: string; port: number }>();
  const calls = new WorkerCalls<SimulatorStats | number[]>(
    worker,
    () => new Error('the simulator thread stopped'),
    (error) => listening.reject(error),
  );
  worker.on('message', (message: FromThread) => {
    if ('listening' in message) listening.resolve(message.listening);
    else if ('failed' in message) listening.reject(new Error(`simulator: ${message.failed}`));
    else calls.settle(message.id, { value: message.value });
  });
  const { baseUrl, port } = await listening.promise;
  const ask = (what: 'stats' | 'modelledLatencies', from?: number) =>
    calls.call((id) => worker.postMessage({ id, ask: what, from }));
  let closed: Promise<void> | undefined;
  return {
    baseUrl,
    port,
    stats: () => ask('stats') as Promise<SimulatorStats>,
    modelledLatencies: (from = 0) => ask('modelledLatencies', from) as Promise<number[]>,
    threadUse: () => worker.performance.eventLoopUtilization(),
    close: () => {
      if (!calls.stopped) worker.postMessage({ close: true });
      closed ??= calls.exited;
      return closed;
    },
  };
}
