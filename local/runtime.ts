/**
 * The embedded local stack: the CDK app's templates, dynalite with the template's tables, fauxqs
 * (S3, the batch queue), the simulator (or a real endpoint), the template's functions in-process
 * (./functions) and the synthesized state machine run by aws-local-stepfunctions (./executions).
 */
import { stateMachineAsl } from '#cdk/asl';
import { createTablesFromTemplates, type LocalDynamo, startDynalite } from '#local/emulators/dynamo';
import { LocalEvents, type LocalHandler } from '#local/emulators/events';
import {
  type LocalExecution,
  type LocalSfnServer,
  startLocalSfnServer,
} from '#local/emulators/step-functions';
import { type Simulator, type SimulatorOptions, startSimulator } from '#local/simulator/server';
import { type SimulatorThread, startSimulatorThread } from '#local/simulator/thread';
import type { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import type { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import type { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import type { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import type { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import type { AppConfig } from '#shared/config';
import type { JobRequest, StepRecord } from '#shared/domain/types';
import type { JobRecord, JobRef } from '#shared/ports/job-store';
import type { WorkflowStarter } from '#shared/ports/workflow';
import { acceptJob } from '#shared/use-cases/accept-job';
import { closeEndedExecution } from '#shared/use-cases/close-ended-execution';
import { ensureTenant } from '#shared/use-cases/tenants';
import { tableAdapters } from '#shared/wiring';
import type { LocalBatch, LocalBatchOptions } from './batch-intake';
import { type LocalExecutionEnd, LocalExecutions } from './executions';
import { bindTaskStates, type LocalFunction, startFunctions } from './functions';
import { withLocalItemReaders } from './item-reader';
import { LOCAL_REGION, lambdaContext } from './lambda-context';
import { progressIntervalMs } from './progress-interval';
import { type SynthesizedApp, synthesizeApp } from './synth';
import { type CfnTemplate, resourcesOfType } from './template';

/**
 * The tenant of `parl run`: created by the first local run that needs it (not by `parl serve`, whose
 * tenants are the operator's), it reserves and settles like any other.
 */
export const LOCAL_TENANT = 'local';

/** The budget a local tenant starts with: more than any local run spends. */
export const LOCAL_BUDGET_USD = 1_000_000;

export interface EmbeddedStackOptions {
  /** A real OpenAI-compatible endpoint; without it the built-in simulator is started. */
  llm?: { baseUrl?: string; apiKey?: string; model?: string };
  simulator?: SimulatorOptions;
  /**
   * Runs the simulator on a worker thread of its own (see ./simulator/thread), as a provider runs
   * on other machines: `simulatorThread` is then set and `simulator` is not. The CLI and the load
   * bench use it; tests that read or change the simulator synchronously leave it off.
   */
  simulatorThread?: boolean;
  /** Extra environment for every function (e.g. PARL_SUBAGENT_STEP_BUDGET). */
  env?: Record<string, string>;
  /** Log level of the handlers' logger; SILENT by default so the CLI's output stays clean. */
  logLevel?: string;
  /** dynalite data folder; in memory when unset. */
  dataPath?: string;
  /** fauxqs data folder (queues, messages, uploads: the DLQ survives a restart); in memory when unset. */
  eventsPath?: string;
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

/** Told when a job's execution starts and once it has ended with its job closed (`parl serve` logs them). */
export interface JobEvents {
  started?(ref: JobRef): void;
  ended?(ref: JobRef): void;
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

/** The parts of a started {@link EmbeddedStack}. */
interface EmbeddedStackParts {
  app: SynthesizedApp;
  dynamo: LocalDynamo;
  simulator: Simulator | undefined;
  simulatorThread: SimulatorThread | undefined;
  config: AppConfig;
  functions: ReadonlyMap<string, LocalFunction>;
  functionConfigs: ReadonlyMap<string, AppConfig>;
  sfnServer: LocalSfnServer | undefined;
  events: LocalEvents;
  /** Builds the executions once the stack exists (they close jobs through it). */
  executions: (stack: EmbeddedStack) => LocalExecutions;
}

/** The late-bound parts the emulators reach once the stack exists. */
interface BootRefs {
  stack?: EmbeddedStack;
  batch?: LocalBatch;
}

/**
 * The embedded local stack: the CDK app's templates, dynalite with the template's tables, the
 * simulator (or a real endpoint), and the synthesized state machine run by aws-local-stepfunctions
 * with each Task bound to the same handler, in-process, that the function deploys.
 */
export class EmbeddedStack implements WorkflowStarter {
  /** Tenants this stack has made sure of (see ensureLocalTenant). */
  private readonly localTenants = new Set<string>();
  private readonly executions: LocalExecutions;
  /** The table's adapters, as the functions build them. */
  private readonly table: ReturnType<typeof tableAdapters>;
  /** The batch intake, when started with the `batch` option. */
  batch: LocalBatch | undefined;
  /** Told of every execution's start and end (set it after boot). */
  jobEvents: JobEvents = {};

  readonly app: SynthesizedApp;
  readonly dynamo: LocalDynamo;
  readonly simulator: Simulator | undefined;
  readonly simulatorThread: SimulatorThread | undefined;
  readonly config: AppConfig;
  readonly store: DynamoJobStore;
  readonly tenants: DynamoTenantStore;
  /** Budgets and usage of the stack's tenants. */
  readonly ledger: DynamoBudgetLedger;
  /** Idempotency claims (the batch intake's and the API's keyed submissions). */
  readonly idempotency: DynamoIdempotencyStore;
  /** Jobs across the stack's tenants, by idempotency key or status (a scan of the local table). */
  readonly jobSearch: DynamoJobSearch;
  /** Every function of the template with a local handler, by `PARL_FUNCTION`. */
  readonly functions: ReadonlyMap<string, LocalFunction>;
  /** Every function's configuration (its template environment with the local endpoints), by `PARL_FUNCTION`. */
  readonly functionConfigs: ReadonlyMap<string, AppConfig>;
  readonly sfnServer: LocalSfnServer | undefined;
  /** fauxqs with the template's queues and buckets: uploads, item lists, the batch queue. */
  readonly events: LocalEvents;

  private constructor(parts: EmbeddedStackParts) {
    this.app = parts.app;
    this.dynamo = parts.dynamo;
    this.simulator = parts.simulator;
    this.simulatorThread = parts.simulatorThread;
    this.config = parts.config;
    const table = tableAdapters(parts.config);
    this.table = table;
    this.store = table.store;
    this.tenants = table.tenants;
    this.ledger = table.ledger;
    this.idempotency = table.idempotency;
    this.jobSearch = table.jobSearch;
    this.functions = parts.functions;
    this.functionConfigs = parts.functionConfigs;
    this.sfnServer = parts.sfnServer;
    this.events = parts.events;
    this.executions = parts.executions(this);
  }

  /** The simulator's base URL, wherever it runs (undefined with a real endpoint). */
  get simulatorUrl(): string | undefined {
    return (this.simulator ?? this.simulatorThread)?.baseUrl;
  }

  /** The job workflow's ARN (the template's state machine, in the local account). */
  get stateMachineArn(): string {
    return this.executions.stateMachineArn;
  }

  /**
   * Synthesizes the app and starts every local part: dynalite with the tables, fauxqs, the Step
   * Functions endpoint (with `sfnEndpoint` or `batch`), the simulator (without a real endpoint),
   * the functions, the state machine, and the batch intake (with `batch`). A part that fails to
   * start stops the ones started before it.
   */
  static async boot(opts: EmbeddedStackOptions = {}): Promise<EmbeddedStack> {
    const app = synthesizeApp({ bundle: opts.code === 'bundled' });
    const stops: (() => unknown)[] = [() => app.dispose()];
    try {
      const dynamo = await startDynalite(opts.dataPath ? { path: opts.dataPath } : {});
      stops.push(() => dynamo.close());
      const refs: BootRefs = {};
      const batchModule = opts.batch ? await import('./batch-intake') : undefined;
      const events = await startEvents(app, opts, batchModule?.BATCH_FUNCTION, refs);
      stops.push(() => events.close());
      // The batch function starts jobs through the Step Functions API, as in the cloud.
      const sfnServer =
        opts.sfnEndpoint || opts.batch ? await startLocalSfnServer(() => startedStack(refs)) : undefined;
      if (sfnServer) stops.push(() => sfnServer.close());
      await createTablesFromTemplates(dynamo.endpoint, LOCAL_REGION, Object.values(app.templates));
      const useReal = !!(opts.llm?.baseUrl || opts.llm?.apiKey);
      const simulatorThread =
        !useReal && opts.simulatorThread ? await startSimulatorThread(opts.simulator) : undefined;
      if (simulatorThread) stops.push(() => simulatorThread.close());
      const simulator = useReal || simulatorThread ? undefined : await startSimulator(opts.simulator);
      if (simulator) stops.push(() => simulator.close());
      const { functions, configs, config } = await startFunctions(app, {
        endpoints: { dynamodb: dynamo.endpoint, s3: events.endpoint, sfn: sfnServer?.endpoint },
        llmEnv: llmEnvironment(opts.llm, simulator ?? simulatorThread),
        env: opts.env,
        logLevel: opts.logLevel,
        bundled: opts.code === 'bundled',
      });
      const stack = new EmbeddedStack({
        app,
        dynamo,
        simulator,
        simulatorThread,
        config,
        functions,
        functionConfigs: configs,
        sfnServer,
        events,
        executions: (s) =>
          workflowExecutions(app, functions, events, async (ref, end) => {
            await s.closeEnded(ref, end);
            s.jobEvents.ended?.(ref);
          }),
      });
      refs.stack = stack;
      if (batchModule) {
        refs.batch = batchModule.LocalBatch.start(stack, opts.batch);
        stack.batch = refs.batch;
      }
      return stack;
    } catch (error) {
      for (const stop of stops.reverse()) await stop();
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
    const known = this.executions.named(name);
    if (known) return known;
    const execution = this.executions.start(name, input);
    this.jobEvents.started?.(input);
    return execution;
  }

  /** A local execution by ARN (DescribeExecution), if this runtime started it. */
  execution(arn: string): LocalExecution | undefined {
    return this.executions.byArn(arn);
  }

  /**
   * Closes a job whose execution ended (or vanished with a stopped server) without a terminal
   * state: the safety net the cloud gets from execution-status events (the execution-ended
   * function), with the same use case, so no job stays RUNNING and a job closed here keeps the
   * measures of its steps.
   */
  async closeEnded(ref: JobRef, end: LocalExecutionEnd): Promise<void> {
    const { store, steps, ledger } = this.table;
    await closeEndedExecution({ store, steps, ledger }, { ...ref, ...end });
  }

  /**
   * A job request in, the accepted job out (the workflow runs in the background): the same
   * acceptance as the API's, for a local tenant ({@link ensureLocalTenant}), so the job reserves
   * its estimate from the tenant's budget and settles its cost when it ends.
   */
  async submit(request: JobRequest, tenantId = LOCAL_TENANT): Promise<JobRecord> {
    await this.ensureLocalTenant(tenantId);
    const deps = { ...this.table, workflow: this, config: this.config };
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

  /**
   * Waits for a job's execution, reporting progress every `intervalMs`, or less often for a wide
   * job (each report counts the stage's agent records; see {@link progressIntervalMs}).
   */
  async wait(ref: JobRef, onProgress?: (p: ProgressEvent) => void, intervalMs = 250): Promise<JobOutcome> {
    const started = Date.now();
    const execution = this.executions.named(ref.jobId);
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
      const pause = progressIntervalMs(job?.plan?.agents ?? 0, intervalMs);
      await Promise.race([finished, new Promise((r) => setTimeout(r, pause))]);
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
    await this.executions.abortAll();
    await this.sfnServer?.close();
    await this.simulator?.close();
    await this.simulatorThread?.close();
    await this.dynamo.close();
    this.app.dispose();
  }
}

/** The stack, once booted: the Step Functions endpoint dispatches to it. */
function startedStack(refs: BootRefs): EmbeddedStack {
  if (!refs.stack) throw new Error('the local stack is still starting');
  return refs.stack;
}

/**
 * fauxqs with the template's queues, buckets and notifications: S3 (item lists, uploads) for every
 * stack; with `batch`, the pollers of the batch queue invoke the batch intake's handler once it exists.
 */
function startEvents(
  app: SynthesizedApp,
  opts: EmbeddedStackOptions,
  batchFunction: string | undefined,
  refs: BootRefs,
): Promise<LocalEvents> {
  const batch = opts.batch;
  const batchHandler: LocalHandler = (event, context) =>
    refs.batch
      ? refs.batch.handler(event, context)
      : Promise.reject(new Error('the batch intake is still starting'));
  return LocalEvents.start({
    templates: app.templates,
    region: LOCAL_REGION,
    handlers: batchFunction ? { [batchFunction]: batchHandler } : {},
    context: (name) => refs.batch?.context(name) ?? lambdaContext(name, 60, 512),
    ...(batch?.visibilityTimeoutSeconds !== undefined
      ? { visibilityTimeoutSeconds: batch.visibilityTimeoutSeconds }
      : {}),
    ...(batch?.pollers !== undefined ? { pollers: batch.pollers } : {}),
    ...(batch?.waitTimeSeconds !== undefined ? { waitTimeSeconds: batch.waitTimeSeconds } : {}),
    ...(batch?.port !== undefined ? { port: batch.port } : {}),
    ...(opts.eventsPath ? { dataDir: opts.eventsPath } : {}),
  });
}

/** The model endpoint's variables: the real one given, else the simulator. */
function llmEnvironment(
  llm: EmbeddedStackOptions['llm'],
  simulator: { baseUrl: string } | undefined,
): Record<string, string> {
  const env: Record<string, string> = simulator
    ? { MOONSHOT_BASE_URL: simulator.baseUrl, MOONSHOT_API_KEY: 'simulator' }
    : {
        ...(llm?.baseUrl ? { MOONSHOT_BASE_URL: llm.baseUrl } : {}),
        ...(llm?.apiKey ? { MOONSHOT_API_KEY: llm.apiKey } : {}),
      };
  if (llm?.model) env.MOONSHOT_MODEL = llm.model;
  return env;
}

/**
 * The template's state machine with its Tasks bound to the local functions. Distributed Maps read
 * their items from S3 (ItemReader), which aws-local-stepfunctions does not do: a mechanical rewrite
 * puts a reader Task before each such Map (./item-reader), reading through fauxqs.
 */
function workflowExecutions(
  app: SynthesizedApp,
  functions: ReadonlyMap<string, LocalFunction>,
  events: LocalEvents,
  onEnded: (ref: JobRef, end: LocalExecutionEnd) => Promise<void>,
): LocalExecutions {
  const workflow = app.templates[app.workflowStack] as CfnTemplate;
  const { definition, readerStates } = withLocalItemReaders(stateMachineAsl(workflow));
  const handlersByState = bindTaskStates(workflow, definition, readerStates, functions, events.s3);
  const [smLogicalId] = resourcesOfType(workflow, 'AWS::StepFunctions::StateMachine')[0] ?? [];
  const arn = `arn:aws:states:${LOCAL_REGION}:000000000000:stateMachine:${smLogicalId ?? 'Workflow'}`;
  return new LocalExecutions(definition, handlersByState, arn, onEnded);
}
