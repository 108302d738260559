/**
 * The worker thread of the embedded dynalite (see ./dynamo): the server, its database and its
 * garbage on the machine's other core, away from the handlers, the state machine and the
 * simulator. Loaded by Node itself (type stripping): plain TypeScript, nothing tsx-only.
 *
 * Messages in: `{ id, request }` (a request of the stack's own clients) and `{ close: true }`.
 * Messages out: `{ listening: port }` once, `{ id, answer }` or `{ id, error }` per request, and
 * `{ served: operation }` for each request that came through the loopback socket instead.
 */
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import { answerWithListener, type InProcessRequest } from '#shared/adapters/aws/in-process-endpoints';

const port = parentPort!;
const options = workerData as { path?: string; port?: number };
const server = dynalite({
  createTableMs: 0,
  deleteTableMs: 0,
  updateTableMs: 0,
  ...(options.path ? { path: options.path } : {}),
});
/** The requests handed over by the main thread (not counted here: the main thread counts them). */
const handedOver = new WeakSet<object>();
server.on('request', (req: { headers: Record<string, string | string[] | undefined> }) => {
  if (handedOver.has(req)) return;
  port.postMessage({ served: String(req.headers['x-amz-target'] ?? 'unknown') });
});

port.on('message', (message: { id: number; request: InProcessRequest } | { close: true }) => {
  if ('close' in message) {
    server.close(() => port.close());
    return;
  }
  const { id, request } = message;
  const body = Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength);
  answerWithListener(
    (req, res) => {
      handedOver.add(req);
      server.emit('request', req, res);
    },
    { ...request, body },
  ).then(
    (answer) => {
      const body = new Uint8Array(answer.body);
      port.postMessage({ id, answer: { ...answer, body } }, [body.buffer]);
    },
    (error: unknown) =>
      port.postMessage({ id, error: error instanceof Error ? error.message : String(error) }),
  );
});

server.listen(options.port ?? 0, '127.0.0.1', () => {
  port.postMessage({ listening: (server.address() as AddressInfo).port });
});
