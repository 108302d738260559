import type { LocalApi } from '#local/emulators/api-gateway';

/** One HTTP answer of the local API, its body parsed strictly (a lone surrogate fails the parse). */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown> & {
    error?: { code: string; message: string; details?: Record<string, unknown> };
  };
}

export interface CallOptions {
  key?: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** A caller of the local API on loopback: JSON in, JSON out, nothing hidden. */
export function apiCaller(api: () => LocalApi) {
  return async (method: string, path: string, opts: CallOptions = {}): Promise<Answer> => {
    const hasBody = opts.body !== undefined || opts.raw !== undefined;
    const res = await fetch(`${api().url}${path}`, {
      method,
      headers: {
        ...(opts.key ? { 'x-api-key': opts.key } : {}),
        ...(hasBody ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.raw !== undefined ? { body: opts.raw } : {}),
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    // fatal: a lone surrogate sent as WTF-8 is a decoding error here, as in a strict client.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : {} };
  };
}

/** Whether a JSON text holds an escaped lone surrogate (JSON.stringify writes them as \udXXX). */
export const hasLoneSurrogate = (text: string): boolean =>
  /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i.test(text);
