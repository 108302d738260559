/**
 * A job's steps as OpenTelemetry spans, built through the OpenTelemetry JS SDK: one span for the job
 * and, under it, one CLIENT span per step (one model call) named `chat <model>` with the GenAI
 * semantic conventions' attributes (`gen_ai.operation.name`, `gen_ai.provider.name`,
 * `gen_ai.request.model`, `gen_ai.usage.input_tokens`/`output_tokens`/`cache_read.input_tokens`,
 * `gen_ai.response.finish_reasons`) and the swarm's own (`parl.*`: stage, role, agent, step).
 * Trace and span ids derive from the job id and the step's key, so exporting a job twice gives
 * the same trace. `parl jobs trace --format otlp` writes them as OTLP/JSON; `parl serve
 * --otlp-endpoint` sends them over OTLP/HTTP as jobs end.
 */
import { createHash } from 'node:crypto';
import { type Attributes, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  type IdGenerator,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { StepRecord } from '#shared/domain/types';

/** What a trace needs of a job (a stored JobRecord and the API's job view both have it). */
export interface TraceJob {
  jobId: string;
  tenantId?: string;
  status: string;
  acceptedAt: string;
  finishedAt?: string;
  error?: string;
  metrics?: object & { provider?: { name?: string; model?: string } };
}

const hex = (text: string, chars: number) => createHash('sha256').update(text).digest('hex').slice(0, chars);

/** Ids chosen before each span is started (the job's and the step's), instead of random ones. */
class KeyedIds implements IdGenerator {
  traceId = '';
  spanId = '';
  generateTraceId = () => this.traceId;
  generateSpanId = () => this.spanId;
}

function stepAttributes(job: TraceJob, s: StepRecord): Attributes {
  const provider = job.metrics?.provider;
  const model = s.model ?? provider?.model ?? 'unknown';
  return {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': provider?.name ?? 'moonshot',
    'gen_ai.request.model': model,
    ...(s.model ? { 'gen_ai.response.model': s.model } : {}),
    'gen_ai.usage.input_tokens': s.inputTokens,
    'gen_ai.usage.output_tokens': s.outputTokens,
    'gen_ai.usage.cache_read.input_tokens': s.cachedInputTokens,
    ...(s.finishReason ? { 'gen_ai.response.finish_reasons': [s.finishReason] } : {}),
    'gen_ai.agent.id': s.agentId,
    'parl.job.id': job.jobId,
    'parl.stage': s.stage,
    'parl.role': s.role,
    'parl.step': s.step,
    'parl.attempt': s.attempt,
    ...(s.calls !== undefined ? { 'parl.provider.calls': s.calls } : {}),
    ...(s.rateLimited !== undefined ? { 'parl.provider.rate_limited': s.rateLimited } : {}),
    ...(s.waitedMs !== undefined ? { 'parl.provider.waited_ms': s.waitedMs } : {}),
    ...(s.limiterMs !== undefined ? { 'parl.provider.limiter_ms': s.limiterMs } : {}),
    ...(s.toolCalls?.length ? { 'parl.tool_calls': s.toolCalls } : {}),
    ...(s.error ? { 'error.type': 'model_call_failed' } : {}),
  };
}

/** Builds the job's spans on `provider` (whose ids come from `ids`); they end at once. */
function emitJob(provider: TracerProvider, ids: KeyedIds, job: TraceJob, steps: readonly StepRecord[]) {
  const tracer = provider.getTracer('parl-swarm');
  const ends = steps.map((s) => s.endedAt);
  const end = job.finishedAt ?? ends.sort().at(-1) ?? job.acceptedAt;
  ids.traceId = hex(`trace:${job.jobId}`, 32);
  ids.spanId = hex(`job:${job.jobId}`, 16);
  const root = tracer.startSpan(
    `job ${job.jobId}`,
    {
      kind: SpanKind.INTERNAL,
      startTime: new Date(job.acceptedAt),
      attributes: {
        'parl.job.id': job.jobId,
        'parl.job.status': job.status,
        ...(job.tenantId ? { 'parl.tenant.id': job.tenantId } : {}),
      },
    },
    ROOT_CONTEXT,
  );
  if (job.status === 'FAILED') root.setStatus({ code: SpanStatusCode.ERROR, message: job.error ?? 'failed' });
  const parent = trace.setSpan(ROOT_CONTEXT, root);
  for (const s of steps) {
    ids.spanId = hex(`step:${job.jobId}:${s.stage}:${s.role}:${s.agentId}:${s.step}`, 16);
    const attributes = stepAttributes(job, s);
    const span = tracer.startSpan(
      `chat ${attributes['gen_ai.request.model']}`,
      { kind: SpanKind.CLIENT, startTime: new Date(s.startedAt), attributes },
      parent,
    );
    if (s.status === 'FAILED')
      span.setStatus({ code: SpanStatusCode.ERROR, message: s.error ?? 'the model call failed' });
    span.end(new Date(s.endedAt));
  }
  root.end(new Date(end));
}

const providerWith = (processor: SpanProcessor, ids: KeyedIds) =>
  new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'parl-swarm' }),
    idGenerator: ids,
    spanProcessors: [processor],
  });

/** The job's spans as an OTLP/JSON ExportTraceServiceRequest (what an OTLP/HTTP JSON receiver takes). */
export async function otlpJson(job: TraceJob, steps: readonly StepRecord[]): Promise<unknown> {
  const exporter = new InMemorySpanExporter();
  const ids = new KeyedIds();
  const provider = providerWith(new SimpleSpanProcessor({ exporter }), ids);
  emitJob(provider, ids, job, steps);
  await provider.forceFlush();
  const bytes = JsonTraceSerializer.serializeRequest(exporter.getFinishedSpans());
  await provider.shutdown();
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The traces URL of an OTLP/HTTP endpoint: `…/v1/traces` appended to a base URL. */
export const tracesUrl = (endpoint: string) =>
  /\/v1\/traces\/?$/.test(endpoint) ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/traces`;

/** Sends jobs' spans to an OTLP/HTTP endpoint (JSON), one flush per job. */
export class OtlpJobExporter {
  private readonly ids = new KeyedIds();
  private readonly provider: TracerProvider;

  constructor(readonly endpoint: string) {
    const exporter = new OTLPTraceExporter({ url: tracesUrl(endpoint) });
    this.provider = providerWith(new BatchSpanProcessor({ exporter }), this.ids);
  }

  /** Exports the job's spans; resolves once they were sent (rejects when the endpoint refused them). */
  async export(job: TraceJob, steps: readonly StepRecord[]): Promise<void> {
    emitJob(this.provider, this.ids, job, steps);
    await this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}
