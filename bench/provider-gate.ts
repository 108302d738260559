/**
 * A provider's concurrency limit in front of an OpenAI-compatible endpoint (the simulator): at most
 * `maxInFlight` requests at once; the next one is refused at once with Moonshot's 429 body
 * (`rate_limit_reached_error`, "reached organization max concurrency") and `Retry-After`. Used by the
 * learning bench to make the widest fan-out pay for itself, as a real key's limits do. It is a bench
 * fixture, separate from the simulator (whose own rate limits live elsewhere).
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running gate. */
export interface ProviderGate {
  baseUrl: string;
  /** Requests passed through, and refused with 429, since start. */
  stats(): { passed: number; refused: number; maxInFlight: number };
  close(): Promise<void>;
}

/** Starts the gate on 127.0.0.1 in front of `upstreamBaseUrl` (e.g. `http://127.0.0.1:1234/v1`). */
export async function startProviderGate(
  upstreamBaseUrl: string,
  opts: { maxInFlight: number; retryAfterSeconds?: number },
): Promise<ProviderGate> {
  const upstream = new URL(upstreamBaseUrl);
  const retryAfter = opts.retryAfterSeconds ?? 1;
  let inFlight = 0;
  let maxInFlight = 0;
  let passed = 0;
  let refused = 0;
  const server = createServer((req, res) => {
    if (inFlight >= opts.maxInFlight) {
      refused += 1;
      req.resume();
      const body = JSON.stringify({
        error: {
          message: `Your account bench request reached organization max concurrency: ${opts.maxInFlight}, please try again after ${retryAfter} seconds`,
          type: 'rate_limit_reached_error',
        },
      });
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfter) });
      res.end(body);
      return;
    }
    inFlight += 1;
    passed += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        inFlight -= 1;
      }
    };
    const path = `${upstream.pathname.replace(/\/v1\/?$/, '')}${req.url ?? '/'}`;
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', release);
      },
    );
    forward.on('error', (error) => {
      release();
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: error.message, type: 'engine_overloaded_error' } }));
    });
    res.on('close', release);
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    stats: () => ({ passed, refused, maxInFlight }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
