/**
 * What `parl serve` does as jobs start and end: one log line each (the end with its outcome), and,
 * with `--otlp-endpoint`, the ended job's spans exported over OTLP/HTTP (see `#cli/otel`).
 */
import type { OtlpJobExporter } from '#cli/otel';
import type { EmbeddedStack, JobEvents } from '#local/runtime';
import type { JobRecord, JobRef } from '#shared/ports/job-store';

const seconds = (job: JobRecord) =>
  job.finishedAt ? `${((Date.parse(job.finishedAt) - Date.parse(job.acceptedAt)) / 1000).toFixed(1)} s` : '';

/** The end line of a job: status, time, sub-agents, reward and cost, or the reason it failed. */
export function endLine(job: JobRecord): string {
  const m = job.metrics;
  const parts = [`job ${job.jobId} · tenant ${job.tenantId} · ${job.status} in ${seconds(job)}`];
  if (m) {
    parts.push(`${m.subagents.completed}/${m.subagents.spawned} sub-agents completed`);
    if (m.reward !== null) parts.push(`rPARL ${m.reward.toFixed(3)}`);
    parts.push(`$${m.costUsd.toFixed(4)}`);
  }
  if (job.error) parts.push(`reason: ${job.error}`);
  return parts.join(' · ');
}

/** The stack's job events for `parl serve`: log lines, and OTLP export when an exporter is given. */
export function serveJobEvents(
  stack: Pick<EmbeddedStack, 'store'>,
  log: (line: string) => void,
  exporter?: OtlpJobExporter,
): JobEvents {
  const ended = async (ref: JobRef) => {
    const job = await stack.store.getJob(ref);
    if (!job) return;
    log(endLine(job));
    if (!exporter) return;
    try {
      await exporter.export(job, await stack.store.listSteps(ref));
    } catch (error) {
      log(
        `job ${ref.jobId}: OTLP export to ${exporter.endpoint} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  };
  return {
    started: (ref) => log(`job ${ref.jobId} · tenant ${ref.tenantId} · started`),
    ended: (ref) => {
      ended(ref).catch((error: unknown) =>
        log(`job ${ref.jobId}: ${error instanceof Error ? error.message : String(error)}`),
      );
    },
  };
}
