import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '#cdk/build-app';
import { API_THROTTLING, AUTHORIZER_CACHE_TTL } from '#cdk/constructs/tenant-api';
import { API_ROUTES } from '#shared/domain/api-routes';
import { DEFAULT_TENANT_LIMITS, TENANT_LIMIT_RANGES } from '#shared/domain/tenant';
import { NO_BUNDLING } from './synth.ts';

describe('the tenant REST API (CDK)', () => {
  let template: Template;
  let logicalId: (c: { node: { defaultChild?: unknown } }) => string;

  beforeAll(() => {
    const { app, workflow } = buildApp({ ...NO_BUNDLING });
    template = Template.fromStack(workflow);
    logicalId = (c) => workflow.getLogicalId(c.node.defaultChild as never);
    void app;
  });

  it('has a REQUEST authorizer on the x-api-key header backed by the authorizer function', () => {
    template.hasResourceProperties('AWS::ApiGateway::Authorizer', {
      Type: 'REQUEST',
      IdentitySource: 'method.request.header.x-api-key',
      AuthorizerResultTtlInSeconds: AUTHORIZER_CACHE_TTL.toSeconds(),
      AuthorizerUri: Match.anyValue(),
    });
    const fns = template.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { PARL_FUNCTION: 'authorizer' } } },
    });
    expect(Object.keys(fns)).toHaveLength(1);
  });

  it('protects every route but the OpenAPI document with the authorizer', () => {
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).filter(
      (m) => m.Properties.HttpMethod !== 'OPTIONS',
    );
    expect(methods).toHaveLength(API_ROUTES.length);
    const open = methods.filter((m) => m.Properties.AuthorizationType === 'NONE');
    expect(open.map((m) => m.Properties.OperationName)).toEqual(['getOpenApi']);
    expect(methods.filter((m) => m.Properties.AuthorizationType === 'CUSTOM')).toHaveLength(
      API_ROUTES.length - 1,
    );
  });

  it('keeps the stage throttle a backstop well above a tenant’s own limit (each tenant is limited by the api function)', () => {
    expect(API_THROTTLING.rateLimit).toBeGreaterThanOrEqual(10 * DEFAULT_TENANT_LIMITS.requestsPerSecond);
    expect(API_THROTTLING.rateLimit).toBeGreaterThanOrEqual(10 * TENANT_LIMIT_RANGES.requestsPerSecond.min);
    template.resourceCountIs('AWS::ApiGateway::UsagePlan', 0);
  });

  it('writes JSON access logs to a log group and throttles the stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'prod',
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          ThrottlingRateLimit: API_THROTTLING.rateLimit,
          ThrottlingBurstLimit: API_THROTTLING.burstLimit,
          HttpMethod: '*',
          ResourcePath: '/*',
        }),
      ]),
      TracingEnabled: true,
    });
  });

  it('validates the body of job submissions and answers gateway errors in the API error shape', () => {
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      OperationName: 'submitJob',
      RequestValidatorId: Match.anyValue(),
      RequestModels: { 'application/json': Match.anyValue() },
    });
    template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
      ResponseType: 'UNAUTHORIZED',
      ResponseTemplates: { 'application/json': Match.stringLikeRegexp('"code":"unauthorized"') },
    });
  });

  it('lets the api function start, describe and stop executions of the job state machine only', () => {
    const { workflow } = buildApp({ ...NO_BUNDLING });
    const api = workflow.api.handler;
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: logicalId(api.role as never) }] },
    });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: 'states:StartExecution',
          Resource: { Ref: expect.stringMatching(/^Workflow/) },
        }),
        expect.objectContaining({ Action: ['states:DescribeExecution', 'states:StopExecution'] }),
      ]),
    );
    const env = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { PARL_FUNCTION: 'api' } } },
      }),
    )[0]?.Properties.Environment.Variables;
    expect(env).toMatchObject({ STATE_MACHINE_ARN: { Ref: expect.stringMatching(/^Workflow/) } });
    expect(env.MOONSHOT_BASE_URL).toBeUndefined();
  });
});
