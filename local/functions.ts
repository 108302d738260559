/**
 * The template's functions as in-process handlers: each Lambda function of the workflow stack runs
 * the handler its `PARL_FUNCTION` names, with its template environment and the local endpoints on
 * top, either from the TypeScript source or from the esbuild bundle `cdk synth` makes for Lambda.
 * Task states of the state machine are bound to these handlers by the function they invoke.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { type AslDefinition, allStates, taskFunctions } from '#cdk/asl';
import { createAggregateHandler } from '#lambdas/aggregate/handler';
import { createApiHandler } from '#lambdas/api/handler';
import { createAuthorizerHandler } from '#lambdas/authorizer/handler';
import { createPlanHandler } from '#lambdas/plan/handler';
import { createSubagentHandler } from '#lambdas/subagent/handler';
import { createSweeperHandler } from '#lambdas/sweeper/handler';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { type AppConfig, loadConfig, MAX_SLOTS_PER_ITEM } from '#shared/config';
import { ParlError } from '#shared/domain/errors';
import {
  apiDeps,
  authorizerDeps,
  cached,
  sweeperDeps,
  type WorkflowDeps,
  workflowDeps,
} from '#shared/wiring';
import { type ItemReaderInput, s3ItemReader } from './item-reader';
import { LOCAL_REGION, lambdaContext } from './lambda-context';
import type { SynthesizedApp } from './synth';
import { type CfnTemplate, resolveIntrinsics, resourcesOfType } from './template';

type Handler = (event: unknown, context: Context) => Promise<unknown>;
type HandlerFactory = (config: AppConfig, logger: Logger) => Handler;

/** A function of the template as the stack calls it: event in, result out (the context is made per call). */
export type LocalFunction = (event: unknown) => Promise<unknown>;

/** A workflow function's handler, its dependencies built once on first use (as a warm Lambda keeps them). */
const workflowHandler =
  (create: (deps: () => Promise<WorkflowDeps>, logger: Logger) => unknown): HandlerFactory =>
  (config, logger) =>
    create(
      cached(() => workflowDeps(config)),
      logger,
    ) as Handler;

/** `PARL_FUNCTION` of a function in the template → the factory of its in-process handler. */
const HANDLER_FACTORIES: Record<string, HandlerFactory> = {
  plan: workflowHandler(createPlanHandler),
  subagent: workflowHandler(createSubagentHandler),
  aggregate: workflowHandler(createAggregateHandler),
  api: (config, logger) =>
    createApiHandler(
      cached(() => apiDeps(config)),
      logger,
    ) as unknown as Handler,
  authorizer: (config, logger) =>
    createAuthorizerHandler(
      cached(() => authorizerDeps(config)),
      logger,
    ) as unknown as Handler,
  sweeper: (config, logger) =>
    createSweeperHandler(
      cached(() => sweeperDeps(config)),
      logger,
    ) as unknown as Handler,
};

/** Where the functions find the local parts, and how they run. */
export interface LocalFunctionsOptions {
  /** dynalite, fauxqs S3 and (when served) the Step Functions endpoint. */
  endpoints: { dynamodb: string; s3: string; sfn?: string | undefined };
  /** The model endpoint's variables (MOONSHOT_BASE_URL, MOONSHOT_API_KEY, MOONSHOT_MODEL). */
  llmEnv: Record<string, string>;
  /** Extra environment for every function, on top of everything else. */
  env?: Record<string, string> | undefined;
  logLevel?: string | undefined;
  /** Load the functions' esbuild bundles instead of the TypeScript handlers. */
  bundled: boolean;
}

/** The template's functions, ready to call. */
export interface LocalFunctions {
  /** Every function with a local handler, by `PARL_FUNCTION`. */
  functions: Map<string, LocalFunction>;
  /** Every function's configuration, by `PARL_FUNCTION`. */
  configs: Map<string, AppConfig>;
  /** The configuration of the first function with a handler: the stack's own view of the table. */
  config: AppConfig;
}

/**
 * Builds every function of the workflow stack that has a local handler: its environment is the
 * template's (the secret's ARN dropped) with the local endpoints, the model endpoint and `env` on top.
 */
export async function startFunctions(
  app: SynthesizedApp,
  opts: LocalFunctionsOptions,
): Promise<LocalFunctions> {
  const workflow = app.templates[app.workflowStack] as CfnTemplate;
  const logger = createLogger(opts.logLevel ?? 'SILENT');
  const functions = new Map<string, LocalFunction>();
  const configs = new Map<string, AppConfig>();
  let first: AppConfig | undefined;
  for (const [logicalId, res] of resourcesOfType(workflow, 'AWS::Lambda::Function')) {
    const templateEnv = resolveIntrinsics(
      (res.Properties?.Environment as { Variables?: unknown } | undefined)?.Variables ?? {},
      { templates: app.templates, template: workflow, region: LOCAL_REGION },
    ) as Record<string, string>;
    const name = templateEnv.PARL_FUNCTION;
    if (name === undefined) continue;
    const env = functionEnvironment(templateEnv, opts);
    const config = loadConfig(env);
    configs.set(name, config);
    const factory = HANDLER_FACTORIES[name];
    if (!factory) continue;
    first ??= config;
    const handler = opts.bundled
      ? await loadBundle(app.bundles[logicalId], { ...env, POWERTOOLS_LOG_LEVEL: opts.logLevel ?? 'SILENT' })
      : factory(config, logger);
    const timeout = Number(res.Properties?.Timeout ?? 3);
    const memory = Number(res.Properties?.MemorySize ?? 128);
    functions.set(name, (event) => handler(event, lambdaContext(logicalId, timeout, memory)));
  }
  if (!first) throw new Error('the workflow stack has no function with PARL_FUNCTION set');
  return { functions, configs, config: first };
}

/**
 * A function's environment: the template's, without the secret's ARN, the CORS origin (the
 * CloudFront site's; locally the page comes from the API's own origin) and the sub-agents' reserved
 * concurrency (one process has no Lambda pool; the key's free slots still bound the width), with
 * the local parts on top.
 */
/** One process runs every caller here: a plan takes its Map's first leases together, up to this many. */
const LOCAL_PLAN_LEASES = 1_000;

function functionEnvironment(
  templateEnv: Record<string, string>,
  opts: LocalFunctionsOptions,
): Record<string, string> {
  const {
    MOONSHOT_API_KEY_SECRET_ARN: _secret,
    PARL_CORS_ORIGIN: _cors,
    PARL_SUBAGENT_CONCURRENCY: _pool,
    ...env
  } = templateEnv;
  return {
    ...env,
    AWS_REGION: LOCAL_REGION,
    // One process runs every caller here: the slots of a limiter item are claimed together.
    PARL_PROVIDER_SLOTS_PER_ITEM: String(MAX_SLOTS_PER_ITEM),
    PARL_PLAN_LEASES: String(LOCAL_PLAN_LEASES),
    DYNAMODB_ENDPOINT: opts.endpoints.dynamodb,
    S3_ENDPOINT: opts.endpoints.s3,
    ...(opts.endpoints.sfn ? { SFN_ENDPOINT: opts.endpoints.sfn } : {}),
    ...opts.llmEnv,
    ...opts.env,
  };
}

/** Step Functions' limit on a state's input or output, in UTF-8 bytes. */
export const STATE_PAYLOAD_LIMIT_BYTES = 256 * 1024;

/** A Task's input or result above {@link STATE_PAYLOAD_LIMIT_BYTES}: what the cloud fails the state with. */
export class DataLimitExceededError extends ParlError {
  constructor(
    readonly state: string,
    readonly bytes: number,
  ) {
    super(
      `the state ${state} carries ${bytes} bytes, above the ${STATE_PAYLOAD_LIMIT_BYTES}-byte payload limit`,
    );
    this.name = 'States.DataLimitExceeded';
  }
}

/** The payload as JSON, failing as the cloud does when it is above the limit. */
function checkedJson(state: string, payload: unknown): string {
  const json = JSON.stringify(payload ?? null);
  // A string's UTF-8 size is at most 3 bytes a UTF-16 unit: measure only when it may be too big.
  if (json.length * 3 > STATE_PAYLOAD_LIMIT_BYTES) {
    const bytes = Buffer.byteLength(json);
    if (bytes > STATE_PAYLOAD_LIMIT_BYTES) throw new DataLimitExceededError(state, bytes);
  }
  return json;
}

/**
 * The state machine's Task states bound to local handlers: each reader Task (./item-reader) reads
 * its items from fauxqs S3, every other Task calls the function it invokes, JSON in and JSON out
 * as Lambda passes it, within the cloud's payload limit on both (States.DataLimitExceeded above it;
 * the interpreter does not check it).
 */
export function bindTaskStates(
  workflow: CfnTemplate,
  definition: AslDefinition,
  readerStates: readonly string[],
  functions: ReadonlyMap<string, LocalFunction>,
  s3: Parameters<typeof s3ItemReader>[0],
): Record<string, (input: unknown) => Promise<unknown>> {
  const bindings = taskFunctions(workflow, definition);
  const handlersByState: Record<string, (input: unknown) => Promise<unknown>> = {};
  const readItems = s3ItemReader(s3);
  for (const name of readerStates) {
    handlersByState[name] = (input) => readItems(input as ItemReaderInput);
  }
  for (const [name, state] of allStates(definition)) {
    if (state.Type !== 'Task' || readerStates.includes(name)) continue;
    const fn = functions.get(bindings[name] ?? '');
    if (!fn) {
      throw new Error(
        `Task state ${name} invokes ${state.Resource ?? 'nothing'}, which has no local handler`,
      );
    }
    handlersByState[name] = async (input) =>
      JSON.parse(checkedJson(name, await fn(JSON.parse(checkedJson(name, input)))));
  }
  return handlersByState;
}

/** Imports a function's bundle (`index.mjs`) after putting its environment into `process.env`, as Lambda does. */
async function loadBundle(dir: string | undefined, env: Record<string, string>): Promise<Handler> {
  if (!dir) throw new Error('the function has no bundle; synthesize with bundling');
  Object.assign(process.env, env);
  const mod = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as { handler?: Handler };
  if (typeof mod.handler !== 'function') throw new Error(`${dir}/index.mjs exports no handler`);
  return mod.handler;
}
