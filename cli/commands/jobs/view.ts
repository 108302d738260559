/** How `parl jobs` prints jobs: a listing row, a job's summary, a progress line, a step row. */
import type { StepRecord } from '#shared/domain/types';
import type { JobView } from './client';

const num = (n: unknown, digits = 3) =>
  typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : '–';
const int = (n: unknown) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');

/** `3/10 sub-agents (1 failed) · 17 steps`, from the progress or, for a finished job, its metrics. */
export function progressText(job: JobView): string {
  const p = job.progress;
  if (p) {
    if (p.subagents.total === 0) return `planning · ${p.steps} steps`;
    const failed = p.subagents.failed > 0 ? ` (${p.subagents.failed} failed)` : '';
    return `${p.subagents.done}/${p.subagents.total} sub-agents${failed} · ${p.steps} steps${p.stage > 1 ? ` · stage ${p.stage}` : ''}`;
  }
  const m = job.metrics;
  return m ? `${m.subagents.completed}/${m.subagents.spawned} sub-agents completed` : '–';
}

export const LIST_HEADER = `${'JOB'.padEnd(36)}  ${'STATUS'.padEnd(9)}  ${'ACCEPTED'.padEnd(24)}  ${'rPARL'.padStart(8)}  ${'COST $'.padStart(8)}  PROGRESS`;

/** One row of `parl jobs list`. */
export function listRow(job: JobView): string {
  // A job without ground truth has no reward: "unscored", as `parl jobs show` and `parl run` say.
  const reward = job.metrics ? (job.metrics.reward === null ? 'unscored' : num(job.metrics.reward)) : '–';
  const cost = job.metrics ? job.metrics.costUsd.toFixed(4) : '–';
  return `${job.jobId.padEnd(36)}  ${job.status.padEnd(9)}  ${job.acceptedAt.padEnd(24)}  ${reward.padStart(8)}  ${cost.padStart(8)}  ${progressText(job)}`;
}

/** The summary of `parl jobs show`. */
export function showText(job: JobView): string {
  const plan = job.plan
    ? `${job.plan.agents} sub-agents, width ${job.plan.maxConcurrency}, ${job.plan.mapMode.toLowerCase()} map`
    : 'not planned yet';
  const lines = [
    `job ${job.jobId} · ${job.status} (${job.request.mode}; ${plan})`,
    `  accepted    ${job.acceptedAt}${job.finishedAt ? ` · finished ${job.finishedAt}` : ''}`,
    `  progress    ${progressText(job)}`,
    ...(job.error ? [`  reason      ${job.error}`] : []),
  ];
  const m = job.metrics as Record<string, unknown> | undefined;
  if (m?.unscoredReason) lines.push(`  unscored    ${m.unscoredReason}: no speedup, reward or flags`);
  else if (m) {
    lines.push(
      `  steps       CriticalSteps ${int(m.criticalSteps)} vs SequentialSteps ${int(m.sequentialSteps)} → speedup ${num(m.stepSpeedup, 1)}×`,
      `  time        wall-clock ${int(m.wallClockMs)} ms vs critical path ${int(m.criticalPathMs)} ms → overhead ${num(m.overhead, 2)}`,
      `  reward      r_parallel ${num(m.rParallel)} · r_finish ${num(m.rFinish)} · r_perf ${m.rPerf === null ? 'unscored' : num(m.rPerf)} → rPARL ${m.reward === null ? 'unscored' : num(m.reward)}`,
      `  cost        $${num(m.costUsd, 4)}`,
    );
  }
  const answer = job.result?.answer?.trim();
  if (answer) lines.push(`  answer      ${answer.split('\n').slice(0, 6).join('\n              ')}`);
  return lines.join('\n');
}

export const STEPS_HEADER = `${'STAGE'.padStart(5)}  ${'ROLE'.padEnd(4)}  ${'AGENT'.padEnd(24)}  ${'STEP'.padStart(4)}  ${'STATUS'.padEnd(9)}  ${'MS'.padStart(7)}  ${'IN'.padStart(7)}  ${'OUT'.padStart(6)}  FINISH`;

/** One row of `parl jobs steps`. */
export function stepRow(s: StepRecord): string {
  const tail = s.error ? `${s.finishReason ?? '–'} · ${s.error}` : (s.finishReason ?? '–');
  return `${String(s.stage).padStart(5)}  ${s.role.padEnd(4)}  ${s.agentId.padEnd(24)}  ${String(s.step).padStart(4)}  ${s.status.padEnd(9)}  ${String(s.durationMs).padStart(7)}  ${String(s.inputTokens).padStart(7)}  ${String(s.outputTokens).padStart(6)}  ${tail}`;
}
