import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { undiciFetch } from '#shared/adapters/llm/undici-fetch';

/** What the server saw of the last request. */
interface Seen {
  method: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** The provider's transport against a server on loopback that answers by path. */
describe('undiciFetch', () => {
  let server: Server;
  let base = '';
  let seen: Seen | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        seen = { method: req.method ?? '', headers: req.headers, body };
        if (req.url === '/empty') {
          res.writeHead(204).end();
        } else if (req.url === '/slow') {
          setTimeout(() => res.end('late'), 2_000).unref();
        } else {
          res.setHeader('x-multi', ['a', 'b']);
          res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => {
    vi.restoreAllMocks();
    seen = undefined;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the method, headers (a Headers object) and body, and answers status, headers and body', async () => {
    // Act
    const response = await undiciFetch(`${base}/chat`, {
      method: 'POST',
      headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer k' }),
      body: '{"q":1}',
    });
    // Assess
    expect(seen).toMatchObject({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: '{"q":1}',
    });
    expect(response.status).toBe(201);
    expect(response.ok).toBe(true);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('x-multi')).toBe('a, b');
    expect(await response.json()).toEqual({ echo: '{"q":1}' });
  });

  it('answers a status without a body with a null body', async () => {
    const response = await undiciFetch(`${base}/empty`, { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
  });

  it('rejects an aborted call with an AbortError, as the SDK expects of a fetch', async () => {
    // Prepare
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    // Act
    const calling = undiciFetch(`${base}/slow`, { method: 'POST', body: '{}', signal: controller.signal });
    // Assess
    await expect(calling).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('leaves a streaming call, a stream body and a Request to the global fetch', async () => {
    // Prepare
    const global = vi.spyOn(globalThis, 'fetch');
    // Act
    await undiciFetch(`${base}/plain`, { method: 'POST', body: '{"stream":false}' });
    const calls = global.mock.calls.length;
    await undiciFetch(`${base}/chat`, { method: 'POST', body: '{"model":"m","stream": true}' });
    await undiciFetch(new Request(`${base}/chat`));
    await undiciFetch(`${base}/chat`, {
      method: 'POST',
      body: new Blob(['{}']).stream(),
      duplex: 'half',
    } as RequestInit);
    // Assess: none for the plain call, one for each of the three others
    expect(calls).toBe(0);
    expect(global).toHaveBeenCalledTimes(3);
  });
});
