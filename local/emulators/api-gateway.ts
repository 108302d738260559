/**
 * A small local API Gateway: an HTTP server on loopback that does for each request what the cloud's
 * REST API does: match a route of API_ROUTES, call the REQUEST authorizer (unless the route is
 * public) and put its context into the proxy event, call the `api` function with that event, and
 * return its response. Both functions are the template's, run in-process by the local stack.
 *
 * Not emulated: authorizer result caching, stage throttling, the JSON-model body validation (the
 * `api` handler validates every body itself, so the answers are the same, only from one layer).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { LOCAL_REGION } from '#local/lambda-context';

/** What the gateway needs of the embedded stack: its functions, called by `PARL_FUNCTION` name. */
export interface ApiHost {
  invoke(name: string, event: unknown): Promise<unknown>;
}

import { API_ROUTES, type ApiRoute } from '#shared/domain/api-routes';

/** API Gateway's own limit on a request payload. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
const STAGE = 'prod';
const API_ID = 'local';

export interface LocalApi {
  url: string;
  close(): Promise<void>;
}

/** A static file served beside the API (the dashboard of `parl serve`). */
export interface StaticFile {
  contentType: string;
  body: Uint8Array;
}

/** Answers a GET outside the API's routes with a static file, or undefined (then: 404 as before). */
export type StaticSite = (path: string) => StaticFile | undefined;

/** The gateway's own error answers, in the API's error shape (the cloud's gateway responses match). */
function gatewayError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ error: { code, message } }));
}

const routePattern = (path: string): RegExp =>
  new RegExp(`^${path.replace(/\{(\w+)\}/g, (_m, name: string) => `(?<${name}>[^/]+)`)}$`);

const ROUTES = API_ROUTES.map((route) => ({ route: route as ApiRoute, pattern: routePattern(route.path) }));

function match(method: string, path: string) {
  const byPath = ROUTES.map((r) => ({ ...r, m: r.pattern.exec(path) })).filter((r) => r.m);
  const hit = byPath.find((r) => r.route.method === method);
  return { hit, pathKnown: byPath.length > 0 };
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_PAYLOAD_BYTES) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function singleValues(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

/** Serves the API of `stack` on `host:port` (port 0: any free port). */
export async function startLocalApi(
  stack: ApiHost,
  opts: { port?: number; host?: string; site?: StaticSite } = {},
): Promise<LocalApi> {
  const server = createServer((req, res) => {
    if (opts.site && serveStatic(opts.site, req, res)) return;
    void handle(stack, req, res).catch((error: unknown) => {
      if (!res.headersSent)
        gatewayError(res, 500, 'internal', `local gateway error: ${(error as Error).message}`);
      else res.end();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves a static file for a GET/HEAD outside /v1/; true when it answered. */
function serveStatic(site: StaticSite, req: IncomingMessage, res: ServerResponse): boolean {
  const path = new URL(req.url ?? '/', 'http://local').pathname;
  if ((req.method !== 'GET' && req.method !== 'HEAD') || path.startsWith('/v1/')) return false;
  const file = site(path);
  if (!file) return false;
  res.writeHead(200, {
    'content-type': file.contentType,
    'content-length': String(file.body.byteLength),
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : file.body);
  return true;
}

/** What the gateway knows of a request once it matched a route. */
interface GatewayRequest {
  route: { path: string; public?: boolean };
  url: URL;
  method: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  pathParameters: Record<string, string> | null;
  requestId: string;
}

async function handle(stack: ApiHost, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://local');
  const method = (req.method ?? 'GET').toUpperCase();
  const { hit, pathKnown } = match(method, url.pathname);
  if (!hit) {
    if (pathKnown)
      gatewayError(res, 405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}`);
    else gatewayError(res, 404, 'route_not_found', `no route ${method} ${url.pathname}`);
    return;
  }
  const body = await readBody(req);
  if (body === 'too-large') {
    gatewayError(res, 413, 'payload_too_large', `the request is larger than ${MAX_PAYLOAD_BYTES} bytes`);
    return;
  }
  const request: GatewayRequest = {
    route: hit.route,
    url,
    method,
    headers: singleValues(req.headers),
    query: Object.fromEntries(url.searchParams.entries()),
    pathParameters: hit.m?.groups ? { ...hit.m.groups } : null,
    requestId: randomUUID(),
  };
  const authorizerContext = hit.route.public ? null : await authorize(stack, request, res);
  if (authorizerContext === 'answered') return;
  const event = proxyEvent(request, req, body, authorizerContext);
  const out = (await stack.invoke('api', event)) as APIGatewayProxyResult;
  res.writeHead(out.statusCode, {
    ...(out.headers as Record<string, string>),
    'x-amzn-requestid': request.requestId,
  });
  res.end(out.body);
}

/**
 * Runs the REQUEST authorizer as API Gateway does; returns its context, or 'answered' when the
 * gateway already answered (401 without a key or for "Unauthorized", 403 on Deny, 500 on failure).
 */
async function authorize(
  stack: ApiHost,
  request: GatewayRequest,
  res: ServerResponse,
): Promise<Record<string, unknown> | 'answered'> {
  const { route, url, method, headers, requestId } = request;
  const apiKey = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-api-key')?.[1];
  if (!apiKey) {
    // The identity source is missing: API Gateway answers 401 without calling the authorizer.
    gatewayError(res, 401, 'unauthorized', 'the x-api-key header is missing');
    return 'answered';
  }
  let result: APIGatewayAuthorizerResult;
  try {
    result = (await stack.invoke('authorizer', {
      type: 'REQUEST',
      methodArn: `arn:aws:execute-api:${LOCAL_REGION}:000000000000:${API_ID}/${STAGE}/${method}${url.pathname}`,
      resource: route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      queryStringParameters: request.query,
      pathParameters: request.pathParameters,
      requestContext: { requestId, stage: STAGE, apiId: API_ID, resourcePath: route.path },
    })) as APIGatewayAuthorizerResult;
  } catch (error) {
    // API Gateway's contract, not ours: an authorizer that fails with exactly "Unauthorized" means 401.
    if ((error as Error).message === 'Unauthorized') {
      gatewayError(res, 401, 'unauthorized', 'the API key is not valid');
    } else {
      gatewayError(res, 500, 'internal', 'the authorizer failed');
    }
    return 'answered';
  }
  const allowed = result.policyDocument.Statement.some((s) => 'Effect' in s && s.Effect === 'Allow');
  if (!allowed) {
    gatewayError(res, 403, 'forbidden', 'the API key is not allowed to access this resource');
    return 'answered';
  }
  return { ...(result.context ?? {}), principalId: result.principalId };
}

/** The REST API's Lambda proxy event for the request. */
function proxyEvent(
  request: GatewayRequest,
  req: IncomingMessage,
  body: Buffer,
  authorizer: Record<string, unknown> | null,
): APIGatewayProxyEvent {
  const { route, url, method, headers, query } = request;
  return {
    resource: route.path,
    path: url.pathname,
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: Object.keys(query).length > 0 ? query : null,
    multiValueQueryStringParameters:
      Object.keys(query).length > 0
        ? Object.fromEntries([...url.searchParams.keys()].map((k) => [k, url.searchParams.getAll(k)]))
        : null,
    pathParameters: request.pathParameters,
    stageVariables: null,
    body: body.length > 0 ? body.toString('utf8') : null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: API_ID,
      authorizer,
      httpMethod: method,
      identity: {
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      } as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/${STAGE}${url.pathname}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId: request.requestId,
      requestTimeEpoch: Date.now(),
      resourceId: API_ID,
      resourcePath: route.path,
      stage: STAGE,
    },
  };
}
