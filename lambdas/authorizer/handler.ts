import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { createTelemetry, observe, type Telemetry } from '#shared/adapters/telemetry';
import { AuthError } from '#shared/domain/errors';
import { tenantLimitsOf } from '#shared/domain/tenant';
import { authenticate } from '#shared/use-cases/tenants';
import { type AuthorizerDeps, authorizerDeps, fromEnvironment } from '#shared/wiring';

/** The resource a policy covers: every method of the stage, so a cached answer serves all routes. */
export function stageWildcard(methodArn: string): string {
  const [arn, stage] = [methodArn.split('/')[0], methodArn.split('/')[1]];
  return `${arn}/${stage ?? '*'}/*/*`;
}

const policy = (effect: 'Allow' | 'Deny', resource: string, principalId: string) => ({
  principalId,
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
  },
});

/**
 * The API's REQUEST authorizer: resolves `x-api-key` to its tenant. Allow carries `tenantId` in the
 * context (the only place the API reads it from) and the tenant's `requestsPerSecond`; a revoked key gets Deny (403); a missing, malformed
 * or unknown key throws `Unauthorized` (401), as API Gateway expects.
 */
export function createAuthorizerHandler(
  deps: () => Promise<AuthorizerDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (
    event: APIGatewayRequestAuthorizerEvent,
    _context: Context,
  ): Promise<APIGatewayAuthorizerResult> => {
    const headers = event.headers ?? {};
    const apiKey = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-api-key')?.[1];
    try {
      const tenant = await authenticate(await deps(), apiKey ?? undefined);
      return {
        ...policy('Allow', stageWildcard(event.methodArn), tenant.tenantId),
        // The tenant's requests a second ride along (cached with the answer), so the API need not read it.
        context: { tenantId: tenant.tenantId, requestsPerSecond: tenantLimitsOf(tenant).requestsPerSecond },
      };
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      logger.info('request refused', { reason: error.message });
      if (error.revoked) return policy('Deny', stageWildcard(event.methodArn), 'revoked');
      throw new Error('Unauthorized');
    }
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

export const handler = createAuthorizerHandler(fromEnvironment(authorizerDeps));
