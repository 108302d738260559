/**
 * Servers running in this very process (the embedded stack's dynalite), by endpoint URL: an SDK
 * client of such an endpoint hands each request to the server's request listener instead of
 * sending it through a socket. The request and the answer are the same bytes; what goes is the
 * HTTP client and server, the loopback socket and their buffers (about a third of the CPU a local
 * DynamoDB request costs, and a local job makes thousands). Outside the embedded stack nothing is
 * registered and every client uses HTTP as usual.
 *
 * Hand-written: the SDK has no in-process transport, and the server only needs the few members of
 * Node's request and response that it uses (`headers`, `method`, `url`, `data`/`end` events;
 * `statusCode`, `setHeader`, `end`).
 */
import { EventEmitter } from 'node:events';

/** What a Node HTTP server's `request` listener is called with, as far as the servers here use it. */
export type InProcessListener = (req: EventEmitter, res: InProcessResponse) => void;

/** The response object a listener writes to. */
export interface InProcessResponse {
  statusCode: number;
  setHeader(name: string, value: unknown): void;
  getHeader(name: string): string | undefined;
  end(body?: string | Uint8Array): void;
}

/** The request the SDK hands its HTTP handler (the members read here). */
interface SdkRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

/** The response the SDK's deserializers read (a body of bytes is taken as it is). */
interface SdkResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

const listeners = new Map<string, InProcessListener>();
/** Requests handed to a listener and not yet answered, per endpoint. */
const inFlight = new Map<string, Set<Promise<unknown>>>();

/** The longest a stopping server waits for the requests it is still answering. */
const DRAIN_LIMIT_MS = 10_000;

/**
 * Registers the server of `endpoint`. The returned function stops handing it requests (a new one
 * is refused as a closed socket would be) and resolves once those it is answering are answered
 * (at most DRAIN_LIMIT_MS): closing the server's database under a request still in flight would
 * throw inside the server, where nobody can catch it.
 */
export function registerInProcessServer(endpoint: string, listener: InProcessListener): () => Promise<void> {
  listeners.set(endpoint, listener);
  const pending = new Set<Promise<unknown>>();
  inFlight.set(endpoint, pending);
  return async () => {
    if (listeners.get(endpoint) !== listener) return;
    listeners.delete(endpoint);
    inFlight.delete(endpoint);
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DRAIN_LIMIT_MS);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...pending]), limit]);
    clearTimeout(timer);
  };
}

/**
 * The SDK request handler of an endpoint served in this process, or undefined (use HTTP). It
 * looks the server up per request, so a client outliving the server fails as it would over HTTP.
 */
export function inProcessRequestHandler(endpoint: string | undefined) {
  if (endpoint === undefined || !listeners.has(endpoint)) return undefined;
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    handle: (request: SdkRequest) => tracked(endpoint, dispatch(endpoint, request)),
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
    destroy: () => undefined,
  };
}

/** Keeps `answer` among the endpoint's requests in flight until it settles. */
function tracked<T>(endpoint: string, answer: Promise<T>): Promise<T> {
  const pending = inFlight.get(endpoint);
  if (!pending) return answer;
  pending.add(answer);
  const forget = () => pending.delete(answer);
  answer.then(forget, forget);
  return answer;
}

function dispatch(endpoint: string, request: SdkRequest): Promise<{ response: SdkResponse }> {
  const listener = listeners.get(endpoint);
  if (!listener)
    return Promise.reject(
      Object.assign(new Error(`connect ECONNREFUSED ${endpoint} (the in-process server stopped)`), {
        code: 'ECONNREFUSED',
      }),
    );
  return new Promise((resolve, reject) => {
    const req = Object.assign(new EventEmitter(), {
      method: request.method,
      url: request.path + queryString(request.query),
      headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
    });
    const headers: Record<string, string> = {};
    const res: InProcessResponse = {
      statusCode: 200,
      setHeader: (name, value) => {
        headers[name.toLowerCase()] = String(value);
      },
      getHeader: (name) => headers[name.toLowerCase()],
      end: (body) => {
        const bytes = typeof body === 'string' ? Buffer.from(body) : (body ?? new Uint8Array());
        // Through the event loop's check phase, as a socket's data would come through its poll
        // phase: a storm of requests answered in microtasks alone would starve timers and I/O.
        setImmediate(() => resolve({ response: { statusCode: res.statusCode, headers, body: bytes } }));
      },
    };
    try {
      listener(req, res);
    } catch (error) {
      reject(error);
      return;
    }
    // As a socket would: the body arrives after the listener has subscribed, in a later turn of the loop.
    setImmediate(() => {
      const body = request.body;
      if (typeof body === 'string' && body.length > 0) req.emit('data', Buffer.from(body));
      // A view of the same bytes: Buffer.from(a Uint8Array) would call its valueOf, which the SDK's
      // JSON body (a Uint8Array with string methods) answers with a warning on stderr.
      else if (body instanceof Uint8Array && body.byteLength > 0)
        req.emit('data', Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      req.emit('end');
    });
  });
}

function queryString(query: SdkRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === null) params.append(k, '');
    else for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}
