/**
 * The batch intake on the local stack: the `batch` handler, in-process, consuming the template's
 * batch queue on the stack's fauxqs (./events: queues with their DLQ, the uploads bucket and its
 * notifications). The handler's dependencies are the cloud's, built by the composition root
 * (`batchDeps` of shared/wiring.ts) from the function's template environment with the local
 * endpoints: the table on dynalite, S3 on fauxqs, jobs started through `@aws-sdk/client-sfn`
 * against the stack's Step Functions endpoint. The workflow starter is wrapped only to count the
 * jobs the intake started.
 */
import type { Context } from 'aws-lambda';
import { createBatchHandler } from '#lambdas/batch/handler';
import type { LocalEventSource, LocalQueue } from '#local/emulators/event-resources';
import type { LocalEvents, LocalHandler } from '#local/emulators/events';
import { readBatchStatus } from '#shared/adapters/aws/sqs';
import { createLogger } from '#shared/adapters/lambda-runtime';
import type { AppConfig } from '#shared/config';
import type { BatchStatus } from '#shared/domain/batch';
import type { JobRef } from '#shared/ports/job-store';
import type { WorkflowStarter } from '#shared/ports/workflow';
import type { StartWait } from '#shared/use-cases/accept-job';
import { batchDeps } from '#shared/wiring';
import { lambdaContext } from './lambda-context';
import type { SynthesizedApp } from './synth';
import { resourcesOfType } from './template';

/** `PARL_FUNCTION` of the batch-queue consumer. */
export const BATCH_FUNCTION = 'batch';

export interface LocalBatchOptions {
  /** fauxqs port (default: any free port on 127.0.0.1). */
  port?: number;
  /** Timing of a duplicate delivery's wait for its job's start (see StartWait). */
  startWait?: Partial<StartWait>;
  /** Overrides the queues' visibility timeout (seconds); see LocalEventsOptions. */
  visibilityTimeoutSeconds?: number;
  /** Concurrent pollers of the batch queue (default 2). */
  pollers?: number;
  /** Long-poll wait of each receive, seconds (default 1). */
  waitTimeSeconds?: number;
  /** Log level of the batch handler's logger (default SILENT). */
  logLevel?: string;
}

/** What the intake needs of the embedded stack: its fauxqs, its templates and its functions' configuration. */
export interface BatchHost {
  readonly events: LocalEvents;
  readonly app: Pick<SynthesizedApp, 'templates' | 'workflowStack'>;
  /** Every function's configuration, by `PARL_FUNCTION`. */
  readonly functionConfigs: ReadonlyMap<string, AppConfig>;
}

/** The local batch intake of the embedded stack: the `batch` handler on the stack's fauxqs queue. */
export class LocalBatch {
  /** Jobs started through the intake, in order. */
  readonly startedJobs: JobRef[] = [];
  /** Calls to the workflow starter (one per started job; a duplicate delivery makes none). */
  startCalls = 0;

  private constructor(
    readonly events: LocalEvents,
    /** The queue the batch function consumes. */
    readonly queue: LocalQueue,
    /** Its dead-letter queue. */
    readonly deadLetterQueue: LocalQueue | undefined,
    /** The bucket whose uploads notify the queue. */
    readonly bucket: string | undefined,
    /** The batch handler, as the stack's pollers invoke it. */
    readonly handler: LocalHandler,
    /** The Lambda context of an invocation (the template's timeout and memory). */
    readonly context: (functionName: string) => Context,
  ) {}

  /**
   * Builds the batch handler over the stack (its tenant store, budget ledger and job store; S3
   * through the stack's fauxqs) for the stack's pollers of the batch queue.
   */
  static start(stack: BatchHost, opts: LocalBatchOptions = {}): LocalBatch {
    const { events } = stack;
    const workflow = stack.app.templates[stack.app.workflowStack];
    const fn = resourcesOfType(workflow ?? {}, 'AWS::Lambda::Function').find(
      ([, r]) =>
        (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
          ?.PARL_FUNCTION === BATCH_FUNCTION,
    );
    const timeout = Number(fn?.[1].Properties?.Timeout ?? 60);
    const memory = Number(fn?.[1].Properties?.MemorySize ?? 512);
    const source: LocalEventSource | undefined = events.eventSourceOf(BATCH_FUNCTION);
    if (!source) throw new Error(`the templates have no SQS event source for the ${BATCH_FUNCTION} function`);
    const config = stack.functionConfigs.get(BATCH_FUNCTION);
    if (!config) throw new Error(`the templates have no ${BATCH_FUNCTION} function`);
    let batch: LocalBatch | undefined;
    const counting = (starter: WorkflowStarter): WorkflowStarter => ({
      start: (job) => {
        if (batch) {
          batch.startCalls += 1;
          if (!batch.startedJobs.some((j) => j.jobId === job.jobId)) {
            batch.startedJobs.push({ tenantId: job.tenantId, jobId: job.jobId });
          }
        }
        return starter.start(job);
      },
    });
    const deps = batchDeps(config, { ...opts.startWait, decorateWorkflow: counting });
    const handler = createBatchHandler(
      () => Promise.resolve(deps),
      createLogger(opts.logLevel ?? 'SILENT'),
    ) as unknown as LocalHandler;
    const dlqId = source.queue.deadLetterQueue?.logicalId;
    batch = new LocalBatch(
      events,
      source.queue,
      dlqId ? events.queues.get(dlqId) : undefined,
      events.notifications.find((n) => n.queue.logicalId === source.queue.logicalId)?.bucket,
      handler,
      (name) => lambdaContext(name, timeout, memory),
    );
    return batch;
  }

  /** Queue depth, in-flight and DLQ depth from fauxqs; the jobs this intake started. */
  status(): Promise<BatchStatus> {
    return readBatchStatus(
      {
        sqs: this.events.sqs,
        queueUrl: this.queue.url,
        ...(this.deadLetterQueue ? { deadLetterQueueUrl: this.deadLetterQueue.url } : {}),
      },
      this.startedJobs.length,
    );
  }
}
