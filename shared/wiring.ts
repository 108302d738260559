/**
 * The composition root: what each function needs, typed by port, built from the config
 * (`shared/config.ts`) with the adapters. Local and cloud differ only in the endpoints the config
 * carries (the one client factory, `adapters/aws/clients.ts`). A Lambda builds its dependencies
 * once, on first use, and keeps them while warm ({@link cached}); nothing is read at import time,
 * so importing a handler never fails for a missing variable.
 */
import {
  createDynamoDocumentClient,
  createS3Client,
  createSfnClient,
  resolveApiKey,
} from '#shared/adapters/aws/clients';
import { S3ItemStore } from '#shared/adapters/aws/s3-item-store';
import { S3ObjectReader } from '#shared/adapters/aws/s3-object-reader';
import { SfnWorkflow } from '#shared/adapters/aws/sfn-workflow';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { DynamoIdempotencyStore } from '#shared/adapters/dynamo/idempotency-store';
import { DynamoJobSearch } from '#shared/adapters/dynamo/job-search';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import { DynamoPolicyStore } from '#shared/adapters/dynamo/policy-store';
import { DynamoRequestWindow } from '#shared/adapters/dynamo/request-window';
import { DynamoReservations } from '#shared/adapters/dynamo/reservations';
import { DynamoTenantStore } from '#shared/adapters/dynamo/tenant-store';
import {
  createLlmClient,
  createRateLimiter,
  type ProviderInfo,
  providerInfo,
} from '#shared/adapters/llm/client';
import { type AppConfig, loadConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import type { IdempotencyStore } from '#shared/ports/idempotency';
import type { ItemStore } from '#shared/ports/item-store';
import type { JobRef, JobStore, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger, CallStop } from '#shared/ports/ledger';
import type { LlmClient } from '#shared/ports/llm';
import type { PolicyStore } from '#shared/ports/policy-store';
import type { LeaseReserver } from '#shared/ports/rate-limiter';
import type { RequestLimiter } from '#shared/ports/request-limiter';
import type { TenantStore } from '#shared/ports/tenants';
import type { WorkflowControl, WorkflowStarter } from '#shared/ports/workflow';
import { type AcceptJobDeps, DEFAULT_START_WAIT, type StartWait } from '#shared/use-cases/accept-job';
import { closeEndedExecution } from '#shared/use-cases/close-ended-execution';
import type { SlotCounter } from '#shared/use-cases/fan-out-bounds';
import type { FirstLeases } from '#shared/use-cases/plan-stage';
import type { BatchRecordDeps } from '#shared/use-cases/process-batch-record';
import type { SweepReservationsDeps } from '#shared/use-cases/sweep-reservations';

/** The workflow's functions (plan, sub-agent, aggregate, execution-ended): jobs, steps, money, the model. */
export interface WorkflowDeps {
  config: AppConfig;
  store: JobStore;
  steps: StepRecorder;
  /** Budgets and usage: every model call draws from it, every job settles with it. */
  ledger: BudgetLedger;
  policies: PolicyStore;
  /** The provider's client behind the shared limiter and the one retry layer. */
  llm: LlmClient;
  provider: ProviderInfo;
  /** The Distributed Map's item lists (when the config names their bucket: the plan function). */
  items?: ItemStore;
  /** The provider key's free slots (the shared limiter, unless it is off): the plan's width stays within them. */
  slots?: SlotCounter;
  /** The leases a plan takes ahead for its Map's first calls (`PARL_PLAN_LEASES` above 0). */
  firstLeases?: FirstLeases;
  /** Gives back a plan's lease that a sub-agent will not use (the shared limiter, unless it is off). */
  leases?: LeaseReserver;
  /** Closes a stopped job once its last model call in flight has ended (see closeEndedExecution). */
  onLastStoppedCall: (ref: JobRef, stop: CallStop) => Promise<unknown>;
}

/** The API: accepting jobs (with everything that takes), reading them, cancelling them; no model. */
export interface ApiDeps extends AcceptJobDeps {
  config: AppConfig;
  store: JobStore;
  steps: StepRecorder;
  tenants: TenantStore;
  ledger: BudgetLedger;
  idempotency: IdempotencyStore;
  policies: PolicyStore;
  /** Starts and stops executions. */
  workflow: WorkflowControl;
  /** Each tenant's requests a second (its own limit, before any route runs). */
  requests: RequestLimiter;
}

/** The reservation sweeper: open reservations, their jobs and steps, the ledger. */
export interface SweeperDeps extends SweepReservationsDeps {
  config: AppConfig;
}

/** The authorizer: the tenants and their key hashes. */
export interface AuthorizerDeps {
  tenants: TenantStore;
}

/** Options of the batch function's dependencies. */
export interface BatchDepsOptions extends Partial<StartWait> {
  /** Wraps the workflow starter (the local runtime counts the jobs the intake starts). */
  decorateWorkflow?: (workflow: WorkflowStarter) => WorkflowStarter;
}

/**
 * The table's adapters over one document client: jobs and steps, tenants, budgets, idempotency
 * claims, policies and the operators' job search (the local runtime and the CLI use them as they are).
 */
export function tableAdapters(config: AppConfig) {
  const doc = createDynamoDocumentClient(config);
  const store = new DynamoJobStore(doc, config.tableName);
  return {
    doc,
    store,
    steps: store,
    tenants: new DynamoTenantStore(doc, config.tableName),
    ledger: new DynamoBudgetLedger(doc, config.tableName),
    idempotency: new DynamoIdempotencyStore(doc, config.tableName),
    policies: new DynamoPolicyStore(doc, config.tableName),
    jobSearch: new DynamoJobSearch(doc, config.tableName),
    reservations: new DynamoReservations(doc, config.tableName),
    requests: new DynamoRequestWindow(doc, config.tableName),
  };
}

/** The state machine that accepted jobs start (the api and batch functions); ConfigError without one. */
function jobWorkflow(config: AppConfig, fn: string): SfnWorkflow {
  if (!config.stateMachineArn) throw new ConfigError('STATE_MACHINE_ARN', `is required by the ${fn}`);
  return new SfnWorkflow(createSfnClient(config), config.stateMachineArn);
}

/** The workflow functions' dependencies (the model's key is read from Secrets Manager in the cloud). */
export async function workflowDeps(config: AppConfig): Promise<WorkflowDeps> {
  const { doc, store, steps, ledger, policies } = tableAdapters(config);
  const apiKey = await resolveApiKey(config);
  const limiter = createRateLimiter(config, apiKey, doc);
  const deps: WorkflowDeps = {
    config,
    store,
    steps,
    ledger,
    policies,
    llm: createLlmClient(config, apiKey, doc, limiter),
    ...(limiter ? { slots: limiter, leases: limiter } : {}),
    ...(limiter && config.provider.planLeases > 0
      ? { firstLeases: { reserver: limiter, most: config.provider.planLeases } }
      : {}),
    provider: providerInfo(config),
    ...(config.itemsBucket ? { items: new S3ItemStore(createS3Client(config), config.itemsBucket) } : {}),
    onLastStoppedCall: (ref, stop) => closeEndedExecution(deps, { ...ref, ...stop }),
  };
  return deps;
}

/** The api function's dependencies. */
export function apiDeps(config: AppConfig): ApiDeps {
  const { doc: _doc, jobSearch: _search, reservations: _open, ...table } = tableAdapters(config);
  return { config, ...table, workflow: jobWorkflow(config, 'API') };
}

/** The reservation sweeper's dependencies (no model, no workflow). */
export function sweeperDeps(config: AppConfig): SweeperDeps {
  const { store, steps, ledger, reservations } = tableAdapters(config);
  return { config, store, steps, ledger, reservations };
}

/** The authorizer's dependencies. */
export function authorizerDeps(config: AppConfig): AuthorizerDeps {
  return { tenants: new DynamoTenantStore(createDynamoDocumentClient(config), config.tableName) };
}

/**
 * The batch function's dependencies: the API's job acceptance, with a duplicate delivery waiting
 * for its job's start ({@link StartWait}), and uploads read from S3.
 */
export function batchDeps(config: AppConfig, options: BatchDepsOptions = {}): BatchRecordDeps {
  const { decorateWorkflow = (w) => w, ...startWait } = options;
  const { store, tenants, ledger, idempotency } = tableAdapters(config);
  return {
    config,
    store,
    tenants,
    ledger,
    idempotency,
    workflow: decorateWorkflow(jobWorkflow(config, 'batch function')),
    startWait: { ...DEFAULT_START_WAIT, ...startWait },
    objects: new S3ObjectReader(createS3Client(config)),
  };
}

/**
 * Builds a value on first use and keeps it, as a warm Lambda keeps its dependencies; a build that
 * failed is tried again on the next call (a cold start's missing variable fails each invocation
 * with its name, not the function for ever).
 */
export function cached<T>(build: () => T | Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        value = undefined;
        throw error;
      });
    return value;
  };
}

/**
 * A handler's dependencies from its environment, built on first use and kept while warm.
 *
 * @example
 * export const handler = createPlanHandler(fromEnvironment(workflowDeps));
 */
export function fromEnvironment<T>(build: (config: AppConfig) => T | Promise<T>): () => Promise<T> {
  return cached(() => build(loadConfig(process.env)));
}
