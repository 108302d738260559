/**
 * Sequential vs PARL: two jobs of the same task side by side, with the speedup in steps
 * (CriticalSteps) and in wall-clock, and the newest A/B bench report when the server has one.
 * Without `?seq=…&parl=…` it takes the newest finished pair of the same task.
 */
import { benchReport, getJob, type JobView, recentJobs } from '../api';
import { facts, h, ms, n0, n3, ratio, usd } from '../format';
import type { View } from '../view';

/** The newest finished sequential job and the newest finished parl job of the same task. */
export function newestPair(jobs: readonly JobView[]): [JobView, JobView] | undefined {
  const done = jobs.filter((j) => j.status === 'SUCCEEDED' && j.metrics);
  for (const seq of done.filter((j) => j.request.mode === 'sequential')) {
    const parl = done.find((j) => j.request.mode === 'parl' && j.request.task === seq.request.task);
    if (parl) return [seq, parl];
  }
  return undefined;
}

function column(job: JobView): HTMLElement {
  const m = job.metrics!;
  return h(
    'div',
    { class: 'side', 'data-mode': job.request.mode },
    h('h3', {}, `${job.request.mode} · `, h('a', { href: `#/jobs/${job.jobId}` }, job.jobId.slice(0, 8))),
    facts([
      ['steps', 'CriticalSteps / SequentialSteps', `${n0(m.criticalSteps)} / ${n0(m.sequentialSteps)}`],
      ['wall', 'wall-clock', ms(m.wallClockMs)],
      ['critical', 'critical path', ms(m.criticalPathMs)],
      ['reward', 'rPARL', n3(m.reward)],
      ['cost', 'cost', usd(m.costUsd)],
    ]),
  );
}

function benchSection(report: Record<string, unknown>): HTMLElement {
  const rows = Object.entries(report)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(
      ([k, v]) =>
        [k, k, typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v)] as [
          string,
          string,
          string,
        ],
    );
  return h('section', { class: 'bench' }, h('h3', {}, 'A/B bench (bench/results)'), facts(rows));
}

export const compareView: View = (root, params) => {
  const error = h('p', { class: 'error' });
  const body = h('div', { class: 'compare' }, 'loading…');
  root.append(h('h2', {}, 'Sequential vs PARL'), body, error);
  let live = true;
  void (async () => {
    const seqId = params.get('seq');
    const parlId = params.get('parl');
    const pair =
      seqId && parlId
        ? ([await getJob(seqId), await getJob(parlId)] as [JobView, JobView])
        : newestPair(await recentJobs());
    const report = await benchReport();
    if (!live) return;
    body.replaceChildren();
    if (!pair?.[0].metrics || !pair[1].metrics) {
      body.append(
        h(
          'p',
          { class: 'muted' },
          'No finished pair yet: run the same task with "mode": "sequential" and "mode": "parl".',
        ),
      );
    } else {
      const [seq, parl] = pair;
      const speedSteps = seq.metrics!.criticalSteps / parl.metrics!.criticalSteps;
      const speedWall = seq.metrics!.wallClockMs / parl.metrics!.wallClockMs;
      body.append(
        h('p', { class: 'task' }, seq.request.task),
        h('div', { class: 'sides' }, column(seq), column(parl)),
        facts([
          ['speedup-steps', 'speedup in steps (CriticalSteps)', ratio(speedSteps)],
          ['speedup-wall', 'speedup in wall-clock', ratio(speedWall)],
        ]),
      );
    }
    if (report) body.append(benchSection(report));
  })().catch((e: unknown) => {
    error.textContent = String((e as Error).message ?? e);
  });
  return () => {
    live = false;
  };
};
