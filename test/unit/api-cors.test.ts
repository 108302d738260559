import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { corsForOrigin, httpErrors, json } from '#lambdas/api/http';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { NotFoundError } from '#shared/domain/errors';

const event = { headers: { origin: 'https://d1.cloudfront.net' } } as unknown as APIGatewayProxyEvent;
const context = { awsRequestId: 'r-1' } as Context;

function handlerWith(origin: string | undefined, fail: boolean) {
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(corsForOrigin(() => Promise.resolve(origin)))
    .use(httpErrors({ logger: createLogger() }))
    .handler(() => {
      if (fail) return Promise.reject(new NotFoundError('job j-1 not found'));
      return Promise.resolve(json(200, { ok: true }));
    });
}

describe('the API answers with CORS headers for its one origin', () => {
  it.each([
    ['an answer', false, 200],
    ['an error', true, 404],
  ])('adds the origin to %s', async (_what, fail, status) => {
    const res = await handlerWith('https://d1.cloudfront.net', fail)(event, context);
    expect(res.statusCode).toBe(status);
    expect(res.headers?.['access-control-allow-origin']).toBe('https://d1.cloudfront.net');
  });

  it('adds nothing without a configured origin', async () => {
    const res = await handlerWith(undefined, false)(event, context);
    expect(res.headers?.['access-control-allow-origin']).toBeUndefined();
  });
});
