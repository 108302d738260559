import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type StateMachine as LocalStateMachine,
  StateMachine,
} from 'aws-local-stepfunctions';
import { type AslDefinition, allStates, stateMachineAsl, taskFunctions } from '#cdk/asl';
import { createAggregateHandler } from '#lambdas/aggregate/handler';
import { createApiHandler } from '#lambdas/api/handler';
import { createAuthorizerHandler } from '#lambdas/authorizer/handler';
import { createPlanHandler } from '#lambdas/plan/handler';
import { createSubagentHandler } from '#lambdas/subagent/handler';
import { createTablesFromTemplates, type LocalDynamo, startDynalite } from '#local/emulators/dynamo';
import { LocalEvents, type LocalHandler } from '#local/emulators/events';
import {
  type LocalExecution,
  type LocalSfnServer,
  startLocalSfnServer,
} from '#local/emulators/step-functions';
import { type Simulator, type SimulatorOptions, startSimulator } from '#local/simulator/server';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { executionArnOf } from '#shared/adapters/aws/sfn-workflow';
import { createApiDeps, createDeps, createTenantDeps } from '#shared/adapters/deps';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { type AppConfig, loadConfig } from '#shared/config';
import type { JobRequest, StepRecord } from '#shared/domain/types';
import type { JobRecord, JobRef } from '#shared/ports/job-store';
import type { WorkflowStarter } from '#shared/ports/workflow';
import { acceptJob } from '#shared/use-cases/accept-job';
import { closeEndedExecution, type EndedExecution } from '#shared/use-cases/close-ended-execution';
import { ensureTenant } from '#shared/use-cases/tenants';
import type { LocalBatch, LocalBatchOptions } from './batch-intake';
import { type ItemReaderInput, s3ItemReader, withLocalItemReaders } from './item-reader';
import { LOCAL_REGION, lambdaContext } from './lambda-context';
import { type SynthesizedApp, synthesizeApp } from './synth';
import { type CfnTemplate, resolveIntrinsics, resourcesOfType } from './template';

/**
 * The tenant of `parl run`: created by the first local run that needs it (not by `parl serve`, whose
 * tenants are the operator's), it reserves and settles like any other.
 */
export const LOCAL_TENANT = 'local';

/** The budget a local tenant starts with: more than any local run spends. */
export const LOCAL_BUDGET_USD = 1_000_000;

type Handler = (event: unknown, context: Context) => Promise<unknown>;
type HandlerFactory = (config: AppConfig, logger: Logger) => Handler;

/** Builds a handler's dependencies once, on first use, and keeps them, as a warm Lambda does. */
const once = <T>(make: () => T): (() => T) => {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
};

const workflowHandler =
  (create: (deps: () => ReturnType<typeof createDeps>, logger: Logger) => unknown): HandlerFactory =>
  (config, logger) =>
    create(
      once(() => createDeps(config)),
      logger,
    ) as Handler;

/** `PARL_FUNCTION` of a function in the template → the factory of its in-process handler. */
const HANDLER_FACTORIES: Record<string, HandlerFactory> = {
  plan: workflowHandler(createPlanHandler),
  subagent: workflowHandler(createSubagentHandler),
  aggregate: workflowHandler(createAggregateHandler),
  api: (config, logger) =>
    createApiHandler(
      once(() => Promise.resolve(createApiDeps(config))),
      logger,
    ) as unknown as Handler,
  authorizer: (config, logger) =>
    createAuthorizerHandler(
      once(() => Promise.resolve(createTenantDeps(config))),
      logger,
    ) as unknown as Handler,
};

export interface EmbeddedStackOptions {
  /** A real OpenAI-compatible endpoint; without it the built-in simulator is started. */
  llm?: { baseUrl?: string; apiKey?: string; model?: string };
  simulator?: SimulatorOptions;
  /** Extra environment for every function (e.g. PARL_SUBAGENT_STEP_BUDGET). */
  env?: Record<string, string>;
  /** Log level of the handlers' logger; SILENT by default so the CLI's output stays clean. */
  logLevel?: string;
  /** dynalite data folder; in memory when unset. */
  dataPath?: string;
  /**
   * Serve the Step Functions API (StartExecution, DescribeExecution, StopExecution) on loopback,
   * so functions that start jobs (the API) reach this runtime through `@aws-sdk/client-sfn`.
   * Always on with `batch` (the batch function starts its jobs that way).
   */
  sfnEndpoint?: boolean;
  /**
   * `source` (default): the handlers' TypeScript, in-process. `bundled`: the esbuild bundles that
   * `cdk synth` produces for Lambda, loaded in-process; they read their configuration from
   * `process.env` as in Lambda, so this mode sets the functions' variables there.
   */
  code?: 'source' | 'bundled';
  /** Starts the batch intake (the batch handler polling the template's queue on fauxqs); see ./batch-intake. */
  batch?: LocalBatchOptions;
}

export interface ProgressEvent {
  jobId: string;
  status: string;
  agents: number;
  finishedAgents: number;
  elapsedMs: number;
}

export interface JobOutcome {
  job: JobRecord;
  steps: StepRecord[];
}

/** How a local execution ended abnormally, from what its result threw (the cloud's status-change event). */
export type LocalExecutionEnd = Omit<EndedExecution, 'jobId' | 'tenantId'>;

/** A local execution that succeeded without its job reaching a terminal state. */
export const ENDED_WITHOUT_RESULT: LocalExecutionEnd = {
  status: 'FAILED',
  reason: 'the execution ended without storing a result',
};

/**
 * Maps what an aws-local-stepfunctions execution threw to how the execution ended: aborted →
 * ABORTED, timed out → TIMED_OUT, anything else → FAILED with the error's name and message (for a
 * failed execution, those of the error it wraps: the Fail state's Error and Cause, as in the cloud).
 */
export function localExecutionEnd(thrown: unknown): LocalExecutionEnd {
  if (thrown instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (thrown instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT' };
  const error = thrown instanceof ExecutionError && thrown.cause instanceof Error ? thrown.cause : thrown;
  return error instanceof Error
    ? { status: 'FAILED', error: error.name, cause: error.message }
    : { status: 'FAILED', cause: String(error) };
}

/** The parts of a started {@link EmbeddedStack}. */
interface EmbeddedStackParts {
  app: SynthesizedApp;
  definition: AslDefinition;
  dynamo: LocalDynamo;
  simulator: Simulator | undefined;
  config: AppConfig;
  store: DynamoJobStore;
  tenants: DynamoTenantStore;
  handlersByState: Record<string, (input: unknown) => Promise<unknown>>;
  functions: ReadonlyMap<string, (event: unknown) => Promise<unknown>>;
  functionConfigs: ReadonlyMap<string, AppConfig>;
  stateMachineArn: string;
  sfnServer: LocalSfnServer | undefined;
  events: LocalEvents;
}

/**
 * The embedded local stack: the CDK app's templates, dynalite with the template's tables, the
 * simulator (or a real endpoint), and the synthesized state machine run by aws-local-stepfunctions
 * with each Task bound to the same handler, in-process, that the function deploys.
 */
export class EmbeddedStack implements WorkflowStarter {
  private readonly executions = new Map<string, LocalExecution>();
  /** Tenants this stack has made sure of (see ensureLocalTenant). */
  private readonly localTenants = new Set<string>();
  private readonly machine: LocalStateMachine;
  private readonly handlersByState: Record<string, (input: unknown) => Promise<unknown>>;
  /** The batch intake, when started with the `batch` option. */
  batch: LocalBatch | undefined;

  readonly app: SynthesizedApp;
  readonly definition: AslDefinition;
  readonly dynamo: LocalDynamo;
  readonly simulator: Simulator | undefined;
  readonly config: AppConfig;
  readonly store: DynamoJobStore;
  readonly tenants: DynamoTenantStore;
  /** Every function of the template with a local handler, by `PARL_FUNCTION`. */
  readonly functions: ReadonlyMap<string, (event: unknown) => Promise<unknown>>;
  /** Every function's configuration (its template environment with the local endpoints), by `PARL_FUNCTION`. */
  readonly functionConfigs: ReadonlyMap<string, AppConfig>;
  readonly stateMachineArn: string;
  readonly sfnServer: LocalSfnServer | undefined;
  /** fauxqs with the template's queues and buckets: uploads, item lists, the batch queue. */
  readonly events: LocalEvents;

  private constructor(parts: EmbeddedStackParts) {
    this.app = parts.app;
    this.definition = parts.definition;
    this.dynamo = parts.dynamo;
    this.simulator = parts.simulator;
    this.config = parts.config;
    this.store = parts.store;
    this.tenants = parts.tenants;
    this.functions = parts.functions;
    this.functionConfigs = parts.functionConfigs;
    this.stateMachineArn = parts.stateMachineArn;
    this.sfnServer = parts.sfnServer;
    this.events = parts.events;
    this.handlersByState = parts.handlersByState;
    this.machine = new StateMachine(parts.definition as never, {
      validationOptions: { checkPaths: true, checkArn: false },
    });
  }

  /** Synthesizes the app and starts every local part. */
  static async boot(opts: EmbeddedStackOptions = {}): Promise<EmbeddedStack> {
    const bundled = opts.code === 'bundled';
    const app = synthesizeApp({ bundle: bundled });
    const workflow = app.templates[app.workflowStack] as CfnTemplate;
    const resolveCtx = (template: CfnTemplate) => ({
      templates: app.templates,
      template,
      region: LOCAL_REGION,
    });
    // Distributed Maps read their items from S3 (ItemReader), which aws-local-stepfunctions does
    // not do: a mechanical rewrite puts a reader Task before each such Map (./item-reader).
    const { definition, readerStates } = withLocalItemReaders(stateMachineAsl(workflow));

    const dynamo = await startDynalite(opts.dataPath ? { path: opts.dataPath } : {});
    // fauxqs: S3 (item lists, uploads) for every stack; the batch queue is polled with `batch`.
    const batchModule = opts.batch ? await import('./batch-intake') : undefined;
    let batchRef: LocalBatch | undefined;
    let events: LocalEvents | undefined;
    try {
      events = await LocalEvents.start({
        templates: app.templates,
        region: LOCAL_REGION,
        handlers: batchModule
          ? {
              [batchModule.BATCH_FUNCTION]: ((event, context) =>
                batchRef
                  ? batchRef.handler(event, context)
                  : Promise.reject(new Error('the batch intake is still starting'))) as LocalHandler,
            }
          : {},
        context: (name) => batchRef?.context(name) ?? lambdaContext(name, 60, 512),
        ...(opts.batch?.visibilityTimeoutSeconds !== undefined
          ? { visibilityTimeoutSeconds: opts.batch.visibilityTimeoutSeconds }
          : {}),
        ...(opts.batch?.pollers !== undefined ? { pollers: opts.batch.pollers } : {}),
        ...(opts.batch?.waitTimeSeconds !== undefined ? { waitTimeSeconds: opts.batch.waitTimeSeconds } : {}),
        ...(opts.batch?.port !== undefined ? { port: opts.batch.port } : {}),
      });
    } catch (error) {
      await dynamo.close();
      app.dispose();
      throw error;
    }
    let simulator: Simulator | undefined;
    // The Step Functions endpoint dispatches to the stack once it exists.
    let stackRef: EmbeddedStack | undefined;
    // The batch function starts jobs through the Step Functions API, as in the cloud.
    const sfnServer =
      opts.sfnEndpoint || opts.batch
        ? await startLocalSfnServer(() => {
            if (!stackRef) throw new Error('the local stack is still starting');
            return stackRef;
          })
        : undefined;
    try {
      await createTablesFromTemplates(dynamo.endpoint, LOCAL_REGION, Object.values(app.templates));
      const useReal = !!(opts.llm?.baseUrl || opts.llm?.apiKey);
      if (!useReal) simulator = await startSimulator(opts.simulator);
      const llmEnv: Record<string, string> = useReal
        ? {
            ...(opts.llm?.baseUrl ? { MOONSHOT_BASE_URL: opts.llm.baseUrl } : {}),
            ...(opts.llm?.apiKey ? { MOONSHOT_API_KEY: opts.llm.apiKey } : {}),
          }
        : { MOONSHOT_BASE_URL: simulator!.baseUrl, MOONSHOT_API_KEY: 'simulator' };
      if (opts.llm?.model) llmEnv.MOONSHOT_MODEL = opts.llm.model;
      const logger = createLogger(opts.logLevel ?? 'SILENT');

      // Each function's environment comes from the template, with local endpoints on top.
      const functions = new Map<string, (event: unknown) => Promise<unknown>>();
      const configs = new Map<string, AppConfig>();
      let anyConfig: AppConfig | undefined;
      for (const [logicalId, res] of resourcesOfType(workflow, 'AWS::Lambda::Function')) {
        const templateEnv = resolveIntrinsics(
          (res.Properties?.Environment as { Variables?: unknown } | undefined)?.Variables ?? {},
          resolveCtx(workflow),
        ) as Record<string, string>;
        const factory = HANDLER_FACTORIES[templateEnv.PARL_FUNCTION ?? ''];
        const { MOONSHOT_API_KEY_SECRET_ARN: _secret, ...env } = templateEnv;
        const functionEnv = {
          ...env,
          AWS_REGION: LOCAL_REGION,
          DYNAMODB_ENDPOINT: dynamo.endpoint,
          S3_ENDPOINT: events.endpoint,
          ...(sfnServer ? { SFN_ENDPOINT: sfnServer.endpoint } : {}),
          ...llmEnv,
          ...opts.env,
        };
        const config = loadConfig(functionEnv);
        if (templateEnv.PARL_FUNCTION) configs.set(templateEnv.PARL_FUNCTION, config);
        if (!factory) continue;
        anyConfig ??= config;
        const handler = bundled
          ? await loadBundle(app.bundles[logicalId], {
              ...functionEnv,
              POWERTOOLS_LOG_LEVEL: opts.logLevel ?? 'SILENT',
            })
          : factory(config, logger);
        const timeout = Number(res.Properties?.Timeout ?? 3);
        const memory = Number(res.Properties?.MemorySize ?? 128);
        functions.set(templateEnv.PARL_FUNCTION ?? '', (event) =>
          handler(event, lambdaContext(logicalId, timeout, memory)),
        );
      }
      if (!anyConfig) throw new Error('the workflow stack has no function with PARL_FUNCTION set');

      const bindings = taskFunctions(workflow, definition);
      const handlersByState: Record<string, (input: unknown) => Promise<unknown>> = {};
      const readItems = s3ItemReader(events.s3);
      for (const name of readerStates) {
        handlersByState[name] = (input) => readItems(input as ItemReaderInput);
      }
      for (const [name, state] of allStates(definition)) {
        if (state.Type !== 'Task' || readerStates.includes(name)) continue;
        const fn = functions.get(bindings[name] ?? '');
        if (!fn)
          throw new Error(
            `Task state ${name} invokes ${state.Resource ?? 'nothing'}, which has no local handler`,
          );
        // Lambda passes JSON in and out; so does the local binding.
        handlersByState[name] = async (input) =>
          JSON.parse(JSON.stringify((await fn(structuredClone(input))) ?? null));
      }
      const doc = createDynamoDocumentClient(anyConfig);
      const store = new DynamoJobStore(doc, anyConfig.tableName);
      const tenants = new DynamoTenantStore(doc, anyConfig.tableName);
      const [smLogicalId] = resourcesOfType(workflow, 'AWS::StepFunctions::StateMachine')[0] ?? [];
      const stateMachineArn = `arn:aws:states:${LOCAL_REGION}:000000000000:stateMachine:${smLogicalId ?? 'Workflow'}`;
      stackRef = new EmbeddedStack({
        app,
        definition,
        dynamo,
        simulator,
        config: anyConfig,
        store,
        tenants,
        handlersByState,
        functions,
        functionConfigs: configs,
        stateMachineArn,
        sfnServer,
        events,
      });
      if (batchModule) {
        batchRef = batchModule.LocalBatch.start(stackRef, opts.batch);
        stackRef.batch = batchRef;
      }
      return stackRef;
    } catch (error) {
      await events.close();
      await sfnServer?.close();
      await simulator?.close();
      await dynamo.close();
      app.dispose();
      throw error;
    }
  }

  /** WorkflowStarter: runs the state machine for the job in the background. */
  start(ref: JobRef): Promise<{ executionId: string }> {
    const execution = this.startExecution(ref.jobId, { jobId: ref.jobId, tenantId: ref.tenantId });
    return Promise.resolve({ executionId: execution.arn });
  }

  /**
   * Starts (or finds) the execution `name` of the job workflow: what StartExecution does. A second
   * start with the same name returns the first execution, as Step Functions does for the same input.
   */
  startExecution(name: string, input: { jobId: string; tenantId: string }): LocalExecution {
    const existing = this.executions.get(name);
    if (existing) return existing;
    const arn = executionArnOf(this.stateMachineArn, name);
    const run = this.machine.run(input, {
      overrides: { taskResourceLocalHandlers: this.handlersByState as never },
      context: { Execution: { Id: arn, Name: name } },
    });
    const execution: LocalExecution = {
      arn,
      name,
      input,
      startDate: new Date(),
      status: 'RUNNING',
      abort: () => run.abort(),
      done: Promise.resolve(),
    };
    execution.done = run.result.then(
      async (output: unknown) => {
        execution.status = 'SUCCEEDED';
        execution.output = output;
        execution.stopDate = new Date();
        await this.ensureTerminal(input, ENDED_WITHOUT_RESULT);
      },
      async (error: unknown) => {
        const end = localExecutionEnd(error);
        // A stopped execution carries StopExecution's cause, as the cloud's status-change event does.
        if (end.status === 'ABORTED' && execution.cause) end.cause = execution.cause;
        execution.status = end.status;
        execution.stopDate = new Date();
        if (end.error) execution.error = end.error;
        if (end.cause) execution.cause = end.cause;
        await this.ensureTerminal(input, end);
      },
    );
    this.executions.set(name, execution);
    return execution;
  }

  /** A local execution by ARN (DescribeExecution), if this runtime started it. */
  execution(arn: string): LocalExecution | undefined {
    for (const e of this.executions.values()) if (e.arn === arn) return e;
    return undefined;
  }

  /**
   * The safety net the cloud gets from execution-status events (the execution-ended function), with
   * the same use case: no job stays RUNNING, and a job closed here keeps the measures of its steps.
   */
  /** Closes a job whose execution ended (or vanished with a stopped server) without a terminal state. */
  async closeEnded(ref: JobRef, end: LocalExecutionEnd): Promise<void> {
    await this.ensureTerminal(ref, end);
  }

  private async ensureTerminal(ref: JobRef, end: LocalExecutionEnd): Promise<void> {
    await closeEndedExecution(
      { store: this.store, steps: this.store, ledger: this.tenants },
      { ...ref, ...end },
    );
  }

  /**
   * A job request in, the accepted job out (the workflow runs in the background): the same
   * acceptance as the API's, for a local tenant ({@link ensureLocalTenant}), so the job reserves
   * its estimate from the tenant's budget and settles its cost when it ends.
   */
  async submit(request: JobRequest, tenantId = LOCAL_TENANT): Promise<JobRecord> {
    await this.ensureLocalTenant(tenantId);
    const deps = {
      tenants: this.tenants,
      store: this.store,
      starter: this,
      ledger: this.tenants,
      idempotency: this.tenants,
      config: this.config,
    };
    return (await acceptJob(deps, { tenantId, request })).job;
  }

  /**
   * Makes sure `tenantId` exists, as a local tenant: ACTIVE, with {@link LOCAL_BUDGET_USD} when it
   * had to be created, and the service's cap. A tenant made with `parl tenants create` is left as it is
   * (only its cap is raised to the service's when lower).
   */
  async ensureLocalTenant(tenantId: string): Promise<void> {
    if (this.localTenants.has(tenantId)) return;
    await ensureTenant(
      { tenants: this.tenants },
      { tenantId, budgetUsd: LOCAL_BUDGET_USD, maxSubagents: this.config.maxSubagentsCap },
    );
    this.localTenants.add(tenantId);
  }

  /** Waits for a job's execution, reporting progress every `intervalMs`. */
  async wait(ref: JobRef, onProgress?: (p: ProgressEvent) => void, intervalMs = 250): Promise<JobOutcome> {
    const started = Date.now();
    const execution = this.executions.get(ref.jobId);
    if (!execution) throw new Error(`no local execution for job ${ref.jobId}`);
    let settled = false;
    const finished = execution.done.finally(() => {
      settled = true;
    });
    while (!settled && onProgress) {
      const job = await this.store.getJob(ref);
      const finishedAgents = job?.plan ? await this.store.countFinishedAgents(ref, job.plan.stage) : 0;
      onProgress({
        jobId: ref.jobId,
        status: job?.status ?? 'ACCEPTED',
        agents: job?.plan?.agents ?? 0,
        finishedAgents,
        elapsedMs: Date.now() - started,
      });
      await Promise.race([finished, new Promise((r) => setTimeout(r, intervalMs))]);
    }
    await finished;
    const job = await this.store.getJob(ref);
    if (!job) throw new Error(`job ${ref.jobId} vanished`);
    return { job, steps: await this.store.listSteps(ref) };
  }

  /** Submits and waits. */
  async run(
    request: JobRequest,
    onProgress?: (p: ProgressEvent) => void,
    tenantId = LOCAL_TENANT,
  ): Promise<JobOutcome> {
    const job = await this.submit(request, tenantId);
    return this.wait(job, onProgress);
  }

  /** Calls a function of the template by its `PARL_FUNCTION` name, as Lambda would. */
  invoke(name: string, event: unknown): Promise<unknown> {
    const fn = this.functions.get(name);
    if (!fn) return Promise.reject(new Error(`the template has no function "${name}" with a local handler`));
    return fn(event);
  }

  async close(): Promise<void> {
    // The pollers first (their in-flight invocations finish), so nothing starts after the aborts.
    await this.events.close();
    for (const e of this.executions.values()) if (e.status === 'RUNNING') e.abort();
    await Promise.allSettled([...this.executions.values()].map((e) => e.done));
    await this.sfnServer?.close();
    await this.simulator?.close();
    await this.dynamo.close();
    this.app.dispose();
  }
}

/** Imports a function's bundle (`index.mjs`) after putting its environment into `process.env`, as Lambda does. */
async function loadBundle(dir: string | undefined, env: Record<string, string>): Promise<Handler> {
  if (!dir) throw new Error('the function has no bundle; synthesize with bundling');
  Object.assign(process.env, env);
  const mod = (await import(pathToFileURL(join(dir, 'index.mjs')).href)) as { handler?: Handler };
  if (typeof mod.handler !== 'function') throw new Error(`${dir}/index.mjs exports no handler`);
  return mod.handler;
}
