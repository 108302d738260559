/**
 * `parl batch submit --wait` against a running server: finding the job an upload became, and
 * waiting until every job of the submission ended.
 */
import type { BatchStatus } from '#shared/domain/batch';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import type { JobRef, JobSearch, JobStore } from '#shared/ports/job-store';
import { type JobEnd, queueLine } from './report';
import { findUploadJob } from './send';

/** How often the waits poll the queue and the jobs. */
const POLL_MS = 250;

/** How long after an upload its S3 notification is surely on the queue (locally: milliseconds). */
const UPLOAD_NOTIFICATION_GRACE_MS = 3_000;

/**
 * Waits until every job is terminal, or its message left the queue without becoming a job (the
 * queue and its in-flight messages are empty and the job does not exist: a poison message, now in
 * the DLQ or on its way). Reports progress through `progress`.
 */
export async function waitForJobs(
  deps: { store: JobStore; status: () => Promise<BatchStatus> },
  jobs: readonly JobRef[],
  progress: (line: string) => void,
  pollMs = POLL_MS,
): Promise<JobEnd[]> {
  for (;;) {
    // The queue first: a job is stored before its message is deleted, so a drained queue seen
    // before reading the jobs means a job still missing never will be.
    const status = await deps.status();
    const records = await Promise.all(jobs.map((j) => deps.store.getJob(j)));
    const drained = status.queueDepth === 0 && status.inFlight === 0;
    const ended = records.map((job, i) =>
      job && TERMINAL_STATUSES.includes(job.status)
        ? { jobId: job.jobId, status: job.status, ...(job.error ? { error: job.error } : {}) }
        : !job && drained
          ? { jobId: jobs[i]?.jobId ?? '', status: 'NOT_ACCEPTED' as const }
          : undefined,
    );
    const done = ended.filter((e) => e !== undefined);
    progress(`waiting: ${done.length}/${jobs.length} job(s) ended · ${queueLine(status)}`);
    if (done.length === jobs.length) return done;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * The job an upload became: its id follows from its notification, so look for it until it is
 * found or the queue drained. The notification reaches the queue a moment after the upload: an
 * empty queue says nothing until then. Undefined when the upload became no job (see the DLQ).
 */
export async function waitForUploadJob(
  deps: { search: JobSearch; status: () => Promise<BatchStatus> },
  upload: { bucket: string; key: string },
  progress: (line: string) => void,
): Promise<JobRef | undefined> {
  const notifiedBy = Date.now() + UPLOAD_NOTIFICATION_GRACE_MS;
  for (;;) {
    const s = await deps.status(); // before the lookup, as in waitForJobs
    const found = await findUploadJob(deps.search, upload);
    const drained = s.queueDepth === 0 && s.inFlight === 0;
    if (found || (drained && Date.now() > notifiedBy)) return found;
    progress(`waiting for the upload's job · ${queueLine(s)}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
