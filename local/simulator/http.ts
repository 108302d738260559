/**
 * The simulator's HTTP plumbing: Moonshot-style error bodies, JSON answers, bounded bodies, and a
 * pause that ends early when the client hangs up or the simulator closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** The largest request body the simulator reads. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Moonshot's error type per HTTP status (what its API answers in `error.type`). */
function errorTypeFor(status: number): string {
  if (status === 400) return 'invalid_request_error';
  if (status === 401) return 'invalid_authentication_error';
  if (status === 403) return 'exceeded_current_quota_error';
  if (status === 404) return 'resource_not_found_error';
  if (status === 429) return 'rate_limit_reached_error';
  if (status >= 500) return 'engine_overloaded_error';
  return 'invalid_request_error';
}

/** A Moonshot-style error body: `{error: {message, type}}`. */
export const errorBody = (status: number, message: string) => ({
  error: { message, type: errorTypeFor(status) },
});

/** The body of an injected fault when the rule brings none. */
export function defaultFaultBody(status: number, retryAfterSeconds?: number): unknown {
  if (status === 429) {
    const wait = retryAfterSeconds ?? 1;
    return errorBody(
      429,
      `Your account simulator request reached organization max RPM, please try again after ${wait} seconds`,
    );
  }
  if (status === 403) {
    return errorBody(
      403,
      'Your account simulator is suspended due to insufficient balance, please recharge your account or check your plan and billing details',
    );
  }
  if (status >= 500) return errorBody(status, 'The engine is currently overloaded, please try again later');
  return errorBody(status, `Simulated fault (HTTP ${status})`);
}

/** Answers with a JSON body (nothing when the response was sent or the client is gone). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** The request's body, or undefined when it is larger than MAX_BODY_BYTES. */
export async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Waits `ms`, or less when the client hangs up or `closing` aborts. */
export async function pause(ms: number, res: ServerResponse, closing: AbortSignal): Promise<void> {
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.once('close', onClose);
  try {
    await sleep(ms, undefined, { signal: AbortSignal.any([closing, gone.signal]) });
  } catch {
    // the client or the simulator went away
  } finally {
    res.off('close', onClose);
  }
}
