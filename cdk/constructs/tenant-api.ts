import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  IdentitySource,
  JsonSchemaType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type Model,
  RequestAuthorizer,
  RequestValidator,
  type Resource,
  ResponseType,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { API_ROUTES } from '#shared/domain/api-routes';
import { FUNCTION_MEMORY_MB } from '#shared/domain/aws-cost';
import { HandlerFunction } from './handler-function.ts';

/**
 * Stage-wide throttling: only a backstop for the account, far above any one tenant's limit. Each
 * tenant's own limits (requests a second, jobs at once: `TenantLimits`, `parl tenants set-limits`)
 * are enforced per tenant by the `api` function against the table, the same code as `parl serve`
 * runs, in place of API Gateway usage plans: those need an API Gateway key per tenant, made
 * whenever a tenant is created, which the stack cannot declare (tenants are data, not resources).
 * So a tenant polling hard gets 429s of its own and the others none, up to this backstop.
 */
export const API_THROTTLING = { rateLimit: 1000, burstLimit: 2000 } as const;

/** How long API Gateway caches an authorizer answer per key (so a revoked key stops within this). */
export const AUTHORIZER_CACHE_TTL = Duration.seconds(30);

export interface TenantApiProps {
  readonly table: ITable;
  readonly tenantIndex: string;
  /** Executions reserved for the api and authorizer functions (a wide fan-out cannot throttle them); 0: none. */
  readonly reservedConcurrency?: { readonly api: number; readonly authorizer: number };
  readonly stateMachine: StateMachine;
  /** The one browser origin allowed to call the API (the dashboard site); none: no CORS at all. */
  readonly corsOrigin?: string;
}

/**
 * The tenants' REST API: API Gateway with a REQUEST authorizer on `x-api-key` (a Lambda that
 * resolves the key to its tenant and passes on its request limit), access logs, a stage-wide
 * throttling backstop ({@link API_THROTTLING}; each tenant's own limits are the `api` function's),
 * body validation on job submission, and one `api` Lambda behind every route of API_ROUTES. With
 * `corsOrigin`, browsers of that origin only may call it: the preflight (OPTIONS), the function's
 * answers (`PARL_CORS_ORIGIN`) and the gateway's own errors name it; never `*`.
 */
export class TenantApi extends Construct {
  readonly api: RestApi;
  readonly handler: HandlerFunction;
  readonly authorizerFunction: HandlerFunction;
  readonly authorizer: RequestAuthorizer;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: TenantApiProps) {
    super(scope, id);
    this.handler = new HandlerFunction(this, 'Api', {
      name: 'api',
      timeout: Duration.seconds(29),
      memorySize: FUNCTION_MEMORY_MB.api,
      description: 'PARL API: jobs, steps, usage for one tenant per request',
      reservedConcurrency: props.reservedConcurrency?.api ?? 0,
      environment: {
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
        ...(props.corsOrigin ? { PARL_CORS_ORIGIN: props.corsOrigin } : {}),
      },
    }).bindTable(props.table, 'readWrite', { indexes: [props.tenantIndex] });
    props.stateMachine.grantStartExecution(this.handler);
    props.stateMachine.grantExecution(this.handler, 'states:DescribeExecution', 'states:StopExecution');

    this.authorizerFunction = new HandlerFunction(this, 'Authorizer', {
      name: 'authorizer',
      timeout: Duration.seconds(10),
      memorySize: FUNCTION_MEMORY_MB.authorizer,
      description: 'PARL API authorizer: resolves x-api-key to its tenant',
      reservedConcurrency: props.reservedConcurrency?.authorizer ?? 0,
    }).bindTable(props.table, 'read');

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new RestApi(this, 'RestApi', {
      restApiName: `${Stack.of(this).stackName}-api`,
      description: 'PARL Swarm tenant API',
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.DESTROY,
      deployOptions: {
        stageName: 'prod',
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: API_THROTTLING.rateLimit,
        throttlingBurstLimit: API_THROTTLING.burstLimit,
        loggingLevel: MethodLoggingLevel.ERROR,
        tracingEnabled: true,
      },
      ...(props.corsOrigin
        ? {
            defaultCorsPreflightOptions: {
              allowOrigins: [props.corsOrigin],
              allowMethods: ['GET', 'POST'],
              allowHeaders: ['x-api-key', 'content-type', 'idempotency-key'],
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });
    this.addGatewayResponses(props.corsOrigin);
    this.authorizer = new RequestAuthorizer(this, 'KeyAuthorizer', {
      handler: this.authorizerFunction,
      identitySources: [IdentitySource.header('x-api-key')],
      resultsCacheTtl: AUTHORIZER_CACHE_TTL,
    });
    this.addRoutes();

    this.acknowledge(props.stateMachine);
  }

  /** The gateway's own answers (no key, bad key, revoked key, throttled…) in the API's error shape. */
  private addGatewayResponses(corsOrigin: string | undefined): void {
    for (const [id, type, code] of [
      ['Unauthorized', ResponseType.UNAUTHORIZED, 'unauthorized'],
      ['AccessDenied', ResponseType.ACCESS_DENIED, 'forbidden'],
      ['Throttled', ResponseType.THROTTLED, 'throttled'],
      ['BadBody', ResponseType.BAD_REQUEST_BODY, 'invalid_request'],
      ['Default4xx', ResponseType.DEFAULT_4XX, 'client_error'],
      ['Default5xx', ResponseType.DEFAULT_5XX, 'internal'],
    ] as const) {
      this.api.addGatewayResponse(id, {
        type,
        ...(corsOrigin ? { responseHeaders: { 'Access-Control-Allow-Origin': `'${corsOrigin}'` } } : {}),
        templates: {
          'application/json': `{"error":{"code":"${code}","message":$context.error.messageString}}`,
        },
      });
    }
  }

  /** One method per route of API_ROUTES on the `api` Lambda; job submission validates its body. */
  private addRoutes(): void {
    const validator = new RequestValidator(this, 'BodyValidator', {
      restApi: this.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const jobRequestModel: Model = this.api.addModel('JobRequest', {
      contentType: 'application/json',
      schema: {
        type: JsonSchemaType.OBJECT,
        required: ['task'],
        properties: { task: { type: JsonSchemaType.STRING, minLength: 1 } },
      },
    });

    const integration = new LambdaIntegration(this.handler);
    const resources = new Map<string, Resource>();
    const resourceFor = (path: string): Resource => {
      let node = this.api.root as Resource;
      let sofar = '';
      for (const part of path.split('/').filter(Boolean)) {
        sofar += `/${part}`;
        const known = resources.get(sofar);
        node = known ?? node.addResource(part);
        resources.set(sofar, node);
      }
      return node;
    };
    for (const route of API_ROUTES) {
      const isPublic = 'public' in route && route.public === true;
      const isSubmit = route.operationId === 'submitJob';
      const method = resourceFor(route.path).addMethod(route.method, integration, {
        operationName: route.operationId,
        ...(isPublic
          ? { authorizationType: AuthorizationType.NONE }
          : { authorizer: this.authorizer, authorizationType: AuthorizationType.CUSTOM }),
        ...(isSubmit
          ? { requestValidator: validator, requestModels: { 'application/json': jobRequestModel } }
          : {}),
      });
      if (isPublic) {
        Validations.of(method).acknowledge(
          {
            id: 'AwsSolutions-APIG4',
            reason: 'The OpenAPI document is public on purpose: it describes the API, it holds no data',
          },
          {
            id: 'AwsSolutions-COG4',
            reason: 'The OpenAPI document is public on purpose: it describes the API, it holds no data',
          },
        );
      } else {
        Validations.of(method).acknowledge({
          id: 'AwsSolutions-COG4',
          reason: 'Tenants authenticate with API keys through the Lambda REQUEST authorizer, not Cognito',
        });
      }
    }
  }

  /** cdk-nag findings this API answers by design. */
  private acknowledge(stateMachine: StateMachine): void {
    for (const preflight of this.api.methods.filter((m) => m.httpMethod === 'OPTIONS')) {
      Validations.of(preflight).acknowledge(
        {
          id: 'AwsSolutions-APIG4',
          reason: 'A CORS preflight carries no key by the Fetch standard; it holds no data',
        },
        {
          id: 'AwsSolutions-COG4',
          reason: 'A CORS preflight carries no key by the Fetch standard; it holds no data',
        },
      );
    }
    Validations.of(this.api).acknowledge(
      {
        id: 'AwsSolutions-APIG3',
        reason:
          'No WAF in this template: per-tenant request limits, a stage backstop and per-tenant budgets bound abuse; attach a WebACL per deployment',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The AWS managed policy API Gateway needs to write execution logs to CloudWatch',
      },
    );
    const smLogicalId = Stack.of(this).getLogicalId(stateMachine.node.defaultChild as CfnElement);
    Validations.of(this.handler).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${smLogicalId}"}]}]}:*]`,
      reason: 'The API describes and stops the executions of the job state machine only (one per job)',
    });
  }
}
