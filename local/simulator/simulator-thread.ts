/**
 * The worker thread of a simulator started with {@link startSimulatorThread} (./thread): the
 * simulated provider answering on a core of its own. Loaded through tsx, as the simulator's modules
 * import each other without file extensions.
 *
 * Messages in: `{ id, ask: 'stats' }`, `{ id, ask: 'modelledLatencies', from }` and `{ close: true }`.
 * Messages out: `{ listening: { baseUrl, port } }` once (or `{ failed }`), then `{ id, value }` per ask.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type SimulatorOptions, startSimulator } from './server';

const port = parentPort!;
try {
  const sim = await startSimulator(workerData as SimulatorOptions);
  type Ask = { id: number; ask: 'stats' } | { id: number; ask: 'modelledLatencies'; from?: number };
  port.on('message', (message: Ask | { close: true }) => {
    if ('close' in message) {
      sim.close().then(() => port.close());
      return;
    }
    const value = message.ask === 'stats' ? sim.stats() : sim.modelledLatencies().slice(message.from ?? 0);
    port.postMessage({ id: message.id, value });
  });
  port.postMessage({ listening: { baseUrl: sim.baseUrl, port: sim.port } });
} catch (error) {
  port.postMessage({ failed: error instanceof Error ? error.message : String(error) });
  port.close();
}
