/**
 * `parl batch submit` on an embedded stack (no `parl serve` running): the data directory's tenants
 * with `--tenant`, else a throwaway tenant in memory; runs until the queue is drained and every
 * started job is terminal, then prints the jobs.
 */
import { dynamoPathOf } from '#cli/data-dir';
import type { LocalBatch } from '#local/batch-intake';
import type { EmbeddedStack } from '#local/runtime';
import { TERMINAL_STATUSES } from '#shared/domain/types';
import { createTenant } from '#shared/use-cases/tenants';
import { requireActiveTenant } from './intake';
import { type BatchSubmitOptions, planSubmission } from './parse';
import { type BatchJobSummary, type BatchSubmitReport, batchTextReport, queueLine } from './report';
import { sendSubmission } from './send';

/** How often the embedded run reports progress. */
const PROGRESS_MS = 1000;

/**
 * Runs a submission on an embedded stack.
 *
 * 1. boot the stack with its batch intake (the data directory's table with `--tenant`)
 * 2. the tenant: `--tenant` (it must be active), or a throwaway one with `--budget-usd`
 * 3. send the file, wait until the queue drained and every started job is terminal
 * 4. print the report; exit 0 when the DLQ is empty and every job SUCCEEDED
 */
export async function submitEmbedded(opts: BatchSubmitOptions): Promise<number> {
  const started = Date.now();
  const say = (line: string) => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  const { EmbeddedStack } = await import('#local/runtime');
  const stack = await EmbeddedStack.boot({
    simulator: { seed: opts.seed, latencyScale: opts.latencyScale },
    ...(opts.tenantId ? { dataPath: dynamoPathOf(opts.dataDir) } : {}),
    batch: { visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds },
  });
  try {
    const batch = stack.batch;
    if (!batch?.bucket) throw new Error('the local stack has no batch intake');
    const tenantId = await tenantFor(stack, opts, say);
    const submission = planSubmission(opts.file, opts.text, {
      tenantId,
      ...(opts.as ? { as: opts.as } : {}),
    });
    say(
      `local stack up: batch queue ${batch.queue.url} · bucket ${batch.bucket} on fauxqs ${batch.events.endpoint}`,
    );
    const sent = await sendSubmission(
      { sqs: batch.events.sqs, queueUrl: batch.queue.url, s3: batch.events.s3, bucket: batch.bucket },
      submission,
    );
    say(
      sent.upload
        ? `uploaded s3://${sent.upload.bucket}/${sent.upload.key}`
        : `sent ${sent.messageIds.length} message(s)`,
    );
    const jobs = await runToEnd(stack, batch, say);
    const tenant = await stack.tenants.getTenant(tenantId);
    const report: BatchSubmitReport = {
      sent: { messages: sent.messageIds.length, ...(sent.upload ? { upload: sent.upload } : {}) },
      status: await batch.status(),
      jobs,
      ...(tenant
        ? {
            tenant: {
              tenantId,
              availableUsd: tenant.availableUsd,
              spentUsd: tenant.spentUsd,
              usage: await stack.ledger.usage(tenantId, new Date().toISOString().slice(0, 7)),
            },
          }
        : {}),
      elapsedMs: Date.now() - started,
    };
    process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : batchTextReport(report)}\n`);
    return report.status.dlqDepth === 0 && jobs.every((j) => j.status === 'SUCCEEDED') ? 0 : 1;
  } finally {
    await stack.close();
  }
}

/** The run's tenant: `--tenant` (checked active), or a new throwaway one with `--budget-usd`. */
async function tenantFor(
  stack: EmbeddedStack,
  opts: BatchSubmitOptions,
  say: (line: string) => void,
): Promise<string> {
  if (opts.tenantId) {
    await requireActiveTenant(stack.tenants, opts.tenantId, opts.dataDir);
    return opts.tenantId;
  }
  const created = await createTenant(
    { tenants: stack.tenants, maxSubagentsCap: stack.config.maxSubagentsCap },
    {
      name: 'parl batch (throwaway)',
      budgetUsd: opts.budgetUsd,
      maxSubagents: stack.config.maxSubagentsCap,
    },
  );
  say(
    `throwaway tenant ${created.tenant.tenantId} with a $${opts.budgetUsd} budget (use --tenant for a lasting one)`,
  );
  return created.tenant.tenantId;
}

/** Waits until the queue drained and every job the intake started is terminal; says progress. */
async function runToEnd(
  stack: EmbeddedStack,
  batch: LocalBatch,
  say: (line: string) => void,
): Promise<BatchJobSummary[]> {
  let last = '';
  const progress = async () => {
    const s = await batch.status();
    let finished = 0;
    for (const ref of batch.startedJobs) {
      const job = await stack.store.getJob(ref);
      if (job && TERMINAL_STATUSES.includes(job.status)) finished += 1;
    }
    const line = `${queueLine(s)} · jobs ${s.jobsStarted} started, ${finished} finished`;
    if (line !== last) say(line);
    last = line;
  };
  await batch.events.drained({ intervalMs: PROGRESS_MS, onPoll: progress });
  const jobs: BatchJobSummary[] = [];
  for (const ref of batch.startedJobs) {
    const { job } = await stack.wait(ref, () => void progress(), PROGRESS_MS);
    jobs.push({
      tenantId: job.tenantId,
      jobId: job.jobId,
      status: job.status,
      ...(job.error ? { error: job.error } : {}),
      ...(job.plan ? { subtasks: job.plan.subtasks } : {}),
      ...(job.metrics ? { wallClockMs: job.metrics.wallClockMs } : {}),
    });
  }
  return jobs;
}
