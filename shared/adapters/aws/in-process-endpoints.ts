/**
 * Servers running in this very process (the embedded stack's dynalite, in a worker thread), by
 * endpoint URL: an SDK client of such an endpoint hands each request to the server's handler (a
 * message to the thread, whose server answers it with its request listener: answerWithListener)
 * instead of sending it through a socket. The request and the answer are the same bytes; what goes is the
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

/** A request as an in-process server gets it: the SDK's, with its URL and body in one piece. */
export interface InProcessRequest {
  method: string;
  /** Path and query string. */
  url: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The answer of an in-process server. */
export interface InProcessAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Answers one request: in this thread (a request listener) or elsewhere (a worker thread). */
export type InProcessHandler = (request: InProcessRequest) => Promise<InProcessAnswer>;

const handlers = new Map<string, InProcessHandler>();
/** Requests handed to a server and not yet answered, per endpoint. */
const inFlight = new Map<string, Set<Promise<unknown>>>();

/** The longest a stopping server waits for the requests it is still answering. */
const DRAIN_LIMIT_MS = 10_000;

/**
 * Registers the server of `endpoint`. The returned function stops handing it requests (a new one
 * is refused as a closed socket would be) and resolves once those it is answering are answered
 * (at most DRAIN_LIMIT_MS): closing the server's database under a request still in flight would
 * throw inside the server, where nobody can catch it.
 */
export function registerInProcessHandler(endpoint: string, handler: InProcessHandler): () => Promise<void> {
  handlers.set(endpoint, handler);
  const pending = new Set<Promise<unknown>>();
  inFlight.set(endpoint, pending);
  return async () => {
    if (handlers.get(endpoint) !== handler) return;
    handlers.delete(endpoint);
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
  if (endpoint === undefined || !handlers.has(endpoint)) return undefined;
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

async function dispatch(endpoint: string, request: SdkRequest): Promise<{ response: SdkResponse }> {
  const handler = handlers.get(endpoint);
  if (!handler)
    throw Object.assign(new Error(`connect ECONNREFUSED ${endpoint} (the in-process server stopped)`), {
      code: 'ECONNREFUSED',
    });
  const answer = await handler({
    method: request.method,
    url: request.path + queryString(request.query),
    headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
    body: bodyBytes(request.body),
  });
  return { response: answer };
}

/** The SDK's body as bytes: a string, or a view of the same bytes as a Uint8Array. */
function bodyBytes(body: unknown): Uint8Array {
  if (typeof body === 'string') return Buffer.from(body);
  // Buffer.from(a Uint8Array) would call its valueOf, which the SDK's JSON body (a Uint8Array with
  // string methods) answers with a warning on stderr: take a view instead.
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return new Uint8Array();
}

/**
 * Answers `request` with a Node request listener in this thread, through objects with the members
 * of Node's request and response that the servers here use.
 */
export function answerWithListener(
  listener: InProcessListener,
  request: InProcessRequest,
): Promise<InProcessAnswer> {
  return new Promise((resolve, reject) => {
    const req = Object.assign(new EventEmitter(), {
      method: request.method,
      url: request.url,
      headers: request.headers,
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
        setImmediate(() => resolve({ statusCode: res.statusCode, headers, body: bytes }));
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
      if (request.body.byteLength > 0) req.emit('data', request.body);
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
