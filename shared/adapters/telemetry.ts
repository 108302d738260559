/**
 * The functions' metrics and traces, through Powertools: Metrics writes Embedded Metric Format
 * lines (CloudWatch turns them into metrics, no API call), Tracer sends X-Ray segments. Both are
 * active in Lambda only: Tracer switches itself off outside it; Metrics is built switched off
 * there, so the embedded stack's stdout stays the CLI's.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as MetricUnitValue } from '@aws-lambda-powertools/metrics/types';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import type { MiddlewareObj } from '@middy/core';
import { jobMetricPoints, METRICS_NAMESPACE, PROVIDER_METRICS } from '#shared/domain/swarm-metrics';
import type { JobMetrics } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import type { CallStats, ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';
import { callStatsOf } from '#shared/ports/llm';

const serviceName = () => process.env.POWERTOOLS_SERVICE_NAME ?? 'parl-swarm';

/**
 * The process's tracer. X-Ray keeps the current segment per process, so one instance serves the
 * handlers' middleware, the client factory's SDK clients and the model-call subsegments.
 */
export const tracer = new Tracer({ serviceName: serviceName() });

/** What a function reports through: its metrics (one EMF document per invocation) and the tracer. */
export interface Telemetry {
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/**
 * A function's metrics (namespace ParlSwarm, dimension `service`). Outside Lambda
 * (`AWS_LAMBDA_FUNCTION_NAME` unset) they are built disabled through Powertools' own switch,
 * POWERTOOLS_METRICS_DISABLED, unless that variable says otherwise.
 */
export function createMetrics(env: Record<string, string | undefined> = process.env): Metrics {
  const switchedOff = !env.AWS_LAMBDA_FUNCTION_NAME && env.POWERTOOLS_METRICS_DISABLED === undefined;
  if (!switchedOff) return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: serviceName() });
  // Powertools reads the switch from process.env when the instance is built, and only then.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  try {
    return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: serviceName() });
  } finally {
    delete process.env.POWERTOOLS_METRICS_DISABLED;
  }
}

/** A function's telemetry: its own metrics, the process's tracer. */
export function createTelemetry(): Telemetry {
  return { metrics: createMetrics(), tracer };
}

/**
 * Flushes the invocation's metrics after the handler (also when it throws), when it recorded any.
 * Powertools' `logMetrics` middleware does the same but warns on every invocation that recorded
 * none, and most invocations of these functions record nothing (no job finished, no model call).
 */
export function publishMetrics(metrics: Metrics): MiddlewareObj {
  const flush = (): void => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: flush, onError: flush };
}

/**
 * The middleware of a function's telemetry, for `middy(inner).use(observe(telemetry))`: the
 * invocation as an X-Ray segment (its response left out: job data stays out of traces), then its
 * metrics flushed.
 */
export function observe(telemetry: Telemetry): MiddlewareObj[] {
  return [
    captureLambdaHandler(telemetry.tracer, { captureResponse: false }) as MiddlewareObj,
    publishMetrics(telemetry.metrics),
  ];
}

/** Records a finished job's measures, tokens, cost and 429s (`jobId` and `tenantId` as properties, not dimensions). */
export function recordJobMetrics(metrics: Metrics, ref: JobRef, jobMetrics: JobMetrics): void {
  for (const point of jobMetricPoints(jobMetrics)) {
    metrics.addMetric(point.name, point.unit as MetricUnitValue, point.value);
  }
  metrics.addMetadata('jobId', ref.jobId);
  metrics.addMetadata('tenantId', ref.tenantId);
}

/**
 * An LLM client that reports each logical model call: an X-Ray subsegment `### model.chat` (the
 * model and caller's role as annotations, tokens and call statistics as metadata, the error when it
 * fails) and the metrics ModelCalls and ProviderCircuitOpen from the call statistics of the retrying
 * client underneath (`LimitedLlm`).
 *
 * @example
 * const llm = new ObservedLlm(deps.llm, telemetry);
 */
export class ObservedLlm implements LlmClient {
  /** The bookkeeping of this client's calls still on its way (their responses' `settling`). */
  private readonly settling = new Set<Promise<void>>();

  constructor(
    private readonly inner: LlmClient,
    private readonly telemetry: Telemetry,
  ) {}

  get model(): string {
    return this.inner.model;
  }

  get waitsForReady(): boolean {
    return this.inner.waitsForReady === true;
  }

  /**
   * Waits for the bookkeeping of the calls made through this client only (one is made per
   * invocation): not for those of the other invocations that share the client underneath, as the
   * sub-agents of the embedded stack share one process.
   */
  async settled(): Promise<void> {
    await Promise.all([...this.settling]);
  }

  chat(request: ChatRequest): Promise<ChatResponse> {
    const { tracer: t } = this.telemetry;
    if (!t.isTracingEnabled()) return this.counted(request);
    return t.provider.captureAsyncFunc('### model.chat', async (subsegment) => {
      subsegment?.addAnnotation('model', this.inner.model);
      if (request.caller) subsegment?.addAnnotation('role', request.caller.role);
      try {
        const response = await this.counted(request);
        subsegment?.addMetadata('usage', response.usage);
        subsegment?.addMetadata('finishReason', response.finishReason);
        if (response.callStats) subsegment?.addMetadata('callStats', response.callStats);
        return response;
      } catch (error) {
        subsegment?.addError(error as Error);
        throw error;
      } finally {
        subsegment?.close();
      }
    }) as Promise<ChatResponse>;
  }

  private async counted(request: ChatRequest): Promise<ChatResponse> {
    try {
      const response = await this.inner.chat(request);
      this.count(response.callStats);
      // Kept until it ends; one that fails (a client that breaks the port's promise) is ended too.
      if (response.settling) {
        const tracked: Promise<void> = response.settling
          .catch(() => undefined)
          .finally(() => this.settling.delete(tracked));
        this.settling.add(tracked);
      }
      return response;
    } catch (error) {
      this.count(callStatsOf(error));
      throw error;
    }
  }

  private count(stats: CallStats | undefined): void {
    if (!stats) return;
    const { metrics } = this.telemetry;
    metrics.addMetric(PROVIDER_METRICS.modelCalls, MetricUnit.Count, stats.calls);
    metrics.addMetric(PROVIDER_METRICS.circuitOpen, MetricUnit.Count, stats.circuitOpen ?? 0);
  }
}

/** The dependencies with their model client observed ({@link ObservedLlm}); anything else as it is. */
export function withObservedLlm<D extends { llm: LlmClient }>(deps: D, telemetry: Telemetry): D {
  return { ...deps, llm: new ObservedLlm(deps.llm, telemetry) };
}
