/**
 * A job's timeline in the formats timeline tools read: Chrome Trace Event JSON (chrome://tracing,
 * Perfetto: one process per job, one thread per agent, one complete event per step) and OpenTelemetry
 * spans (see `#cli/otel`): one span for the job, one child span per step with the GenAI semantic
 * conventions' `gen_ai.*` attributes.
 */
import { otlpJson } from '#cli/otel';
import type { StepRecord } from '#shared/domain/types';
import type { JobView } from './client';
import { criticalAgents } from './timeline';

export const TRACE_FORMATS = ['chrome', 'otlp'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

const micros = (iso: string) => Date.parse(iso) * 1000;
const laneName = (s: Pick<StepRecord, 'stage' | 'role' | 'agentId'>) =>
  `stage ${s.stage} · ${s.role === 'main' ? 'orchestrator' : 'sub-agent'} ${s.agentId}`;

/** Chrome Trace Event Format: `X` (complete) events in microseconds, threads named by `M` events. */
export function chromeTrace(job: JobView, steps: readonly StepRecord[]) {
  const critical = criticalAgents(steps);
  const threads = new Map<string, number>();
  const tidOf = (s: StepRecord) => {
    const key = laneName(s);
    if (!threads.has(key)) threads.set(key, threads.size + 1);
    return threads.get(key) as number;
  };
  const ordered = [...steps].sort(
    (a, b) => a.stage - b.stage || Date.parse(a.startedAt) - Date.parse(b.startedAt),
  );
  const stepEvents = ordered.map((s) => ({
    name: `${s.role === 'main' ? 'main' : 'sub'} step ${s.step}${s.status === 'FAILED' ? ' (failed)' : ''}`,
    cat: s.role === 'main' || critical.get(s.stage) === s.agentId ? 'step,critical' : 'step',
    ph: 'X',
    ts: micros(s.startedAt),
    dur: Math.max(0, s.durationMs) * 1000,
    pid: 1,
    tid: tidOf(s),
    args: {
      stage: s.stage,
      agentId: s.agentId,
      status: s.status,
      model: s.model,
      finishReason: s.finishReason,
      inputTokens: s.inputTokens,
      outputTokens: s.outputTokens,
      cachedInputTokens: s.cachedInputTokens,
      attempt: s.attempt,
      ...(s.error ? { error: s.error } : {}),
      ...(s.toolCalls?.length ? { toolCalls: s.toolCalls } : {}),
    },
  }));
  const end =
    job.finishedAt ??
    ordered
      .map((s) => s.endedAt)
      .sort()
      .at(-1) ??
    job.acceptedAt;
  const jobEvent = {
    name: `job ${job.jobId} (${job.status})`,
    cat: 'job',
    ph: 'X',
    ts: micros(job.acceptedAt),
    dur: Math.max(0, micros(end) - micros(job.acceptedAt)),
    pid: 1,
    tid: 0,
    args: { status: job.status, ...(job.error ? { error: job.error } : {}), metrics: job.metrics },
  };
  const names = [
    { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: `PARL job ${job.jobId}` } },
    { name: 'thread_name', ph: 'M', pid: 1, tid: 0, args: { name: 'job' } },
    ...[...threads].map(([name, tid]) => ({ name: 'thread_name', ph: 'M', pid: 1, tid, args: { name } })),
  ];
  return { traceEvents: [...names, jobEvent, ...stepEvents], displayTimeUnit: 'ms' };
}

/** The trace document of `format`. */
export async function traceDocument(format: TraceFormat, job: JobView, steps: readonly StepRecord[]) {
  return format === 'chrome' ? chromeTrace(job, steps) : await otlpJson(job, steps);
}
