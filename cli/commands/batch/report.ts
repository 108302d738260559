/**
 * What `parl batch submit` reports: the `--json` documents (embedded stack, or a running server)
 * and their human summaries.
 */
import type { BatchStatus } from '#shared/domain/batch';
import type { JobStatus } from '#shared/domain/types';
import type { UsageSummary } from '#shared/ports/ledger';

/** The queue's part of a progress line: `queue N · in flight N · DLQ N`. */
export const queueLine = (s: BatchStatus): string =>
  `queue ${s.queueDepth} · in flight ${s.inFlight} · DLQ ${s.dlqDepth}`;

/** How a job of a submission ended (NOT_ACCEPTED: its message left the queue without a job). */
export interface JobEnd {
  jobId: string;
  status: JobStatus | 'NOT_ACCEPTED';
  error?: string;
}

/** A job the submission started, as the summary reports it. */
export interface BatchJobSummary {
  tenantId: string;
  jobId: string;
  status: JobStatus;
  error?: string;
  subtasks?: number;
  wallClockMs?: number;
}

/** The `--json` document of `parl batch submit` on the embedded stack. */
export interface BatchSubmitReport {
  sent: { messages: number; upload?: { bucket: string; key: string } };
  status: BatchStatus;
  jobs: BatchJobSummary[];
  /** The tenant of `--tenant` (or the throwaway one) after the run: its balance and this period's usage. */
  tenant?: { tenantId: string; availableUsd: number; spentUsd: number; usage: UsageSummary };
  elapsedMs: number;
}

/** The `--json` document of `parl batch submit` against a running `parl serve` or a deployed stack. */
export interface BatchSentReport {
  /** The API the jobs are read through (the server's, or the stack's ApiUrl output). */
  server: string;
  sent: { messages: number; upload?: { bucket: string; key: string } };
  /** The jobs the messages become (their ids follow from tenant and idempotency key); uploads: see status. */
  jobs: { tenantId: string; jobId: string; messageId: string }[];
  /** With `--wait`: how each job ended (NOT_ACCEPTED: its message left the queue without a job, see the DLQ). */
  ended?: JobEnd[];
  /** With `--wait`: the messages the intake refused (poison, now in the DLQ); they are not among `jobs`. */
  rejected?: { tenantId: string; messageId: string }[];
}

/** Moves the messages that never became a job from `jobs` to `rejected`: no job id is shown for them. */
export function setRejected(report: BatchSentReport): void {
  const refused = new Set(
    (report.ended ?? []).filter((e) => e.status === 'NOT_ACCEPTED' && e.jobId !== '').map((e) => e.jobId),
  );
  if (refused.size === 0) return;
  report.rejected = report.jobs
    .filter((j) => refused.has(j.jobId))
    .map((j) => ({ tenantId: j.tenantId, messageId: j.messageId }));
  report.jobs = report.jobs.filter((j) => !refused.has(j.jobId));
  report.ended = (report.ended ?? []).map((e) => (refused.has(e.jobId) ? { ...e, jobId: '' } : e));
}

/** The human summary of `parl batch submit`. */
export function batchTextReport(report: BatchSubmitReport): string {
  const byStatus = new Map<string, number>();
  for (const j of report.jobs) byStatus.set(j.status, (byStatus.get(j.status) ?? 0) + 1);
  const sent = report.sent.upload
    ? `uploaded s3://${report.sent.upload.bucket}/${report.sent.upload.key}`
    : `${report.sent.messages} message(s) sent to the batch queue`;
  const t = report.tenant;
  const lines = [
    `PARL batch · ${sent} · ${(report.elapsedMs / 1000).toFixed(1)} s`,
    `  queue       depth ${report.status.queueDepth} · in flight ${report.status.inFlight} · DLQ ${report.status.dlqDepth}`,
    `  jobs        ${report.status.jobsStarted} started${byStatus.size ? `: ${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')}` : ''}`,
    ...(t
      ? [
          `  tenant      ${t.tenantId} · ${t.usage.jobs} job(s) settled in ${t.usage.period}, $${t.usage.costUsd.toFixed(4)} · spent $${t.spentUsd.toFixed(4)} · available $${t.availableUsd.toFixed(4)}`,
        ]
      : []),
    ...report.jobs.map(
      (j) =>
        `  ${j.jobId}  ${j.tenantId}  ${j.status}${j.subtasks !== undefined ? ` · ${j.subtasks} subtasks` : ''}${j.wallClockMs !== undefined ? ` · ${j.wallClockMs.toLocaleString('en-US')} ms` : ''}${j.error ? ` · ${j.error}` : ''}`,
    ),
  ];
  return lines.join('\n');
}

/**
 * The human summary of `parl batch submit` against a running intake; `to` names it ("the parl
 * serve at … (pid …)", "stack … (region)").
 */
export function sentTextReport(report: BatchSentReport, to: string, waited: boolean): string {
  const ended = report.ended ?? [];
  return [
    `PARL batch · sent to ${to}`,
    report.sent.upload
      ? `  uploaded s3://${report.sent.upload.bucket}/${report.sent.upload.key}: one job once its notification is processed`
      : `  ${report.sent.messages} message(s) on the batch queue; the jobs they become:`,
    ...(report.rejected ?? []).map(
      (r) => `  message ${r.messageId}  ${r.tenantId}  REJECTED: no job (the intake refused it: see the DLQ)`,
    ),
    ...report.jobs.map((j) => {
      const end = ended.find((e) => e.jobId === j.jobId);
      return `  ${j.jobId}  ${j.tenantId}${j.messageId ? `  (message ${j.messageId})` : ''}${end ? `  ${end.status}${end.error ? `: ${end.error}` : ''}` : ''}`;
    }),
    ...ended
      .filter((e) => e.status === 'NOT_ACCEPTED' && e.jobId === '' && report.sent.upload)
      .map(() => '  the upload: REJECTED: no job (the intake refused it: see the DLQ)'),
    waited
      ? `  ${ended.filter((e) => e.status === 'SUCCEEDED').length} of ${report.ended?.length ?? 0} job(s) SUCCEEDED`
      : '  follow them with `parl batch status` and GET /v1/jobs/{id} (or submit with --wait)',
  ].join('\n');
}
