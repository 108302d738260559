/**
 * A job's page: its timeline (Gantt: one lane per agent, the critical path in red, stage boundaries)
 * and beside it the measures: CriticalSteps vs SequentialSteps, wall-clock vs critical path,
 * r_parallel / r_finish / r_perf / rPARL, tokens and cost, 429s and waits. While the job runs the
 * page polls it and recomputes the step measures from the steps so far (shared/domain/measures.ts).
 */
import {
  costUsd,
  criticalPathMs,
  criticalSteps,
  sequentialMs,
  sequentialSteps,
  tokenTotals,
} from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';
import { getJob, getSteps, type JobView } from '../api';
import { facts, h, ms, n0, n3, ratio, usd, when } from '../format';
import { ganttChart } from '../gantt';
import { buildTimeline, type Timeline } from '../timeline';
import { poll, type View } from '../view';
import { subagentsOf } from './jobs';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

type Row = [string, string, string];

/** The measures of a finished job (its stored metrics), or those its steps give so far. */
export function measureRows(job: JobView, steps: readonly StepRecord[]): Row[] {
  const m = job.metrics;
  const calls = steps.reduce((a, s) => a + (s.rateLimited ?? 0), 0);
  const waited = steps.reduce((a, s) => a + (s.waitedMs ?? 0), 0);
  if (m) {
    return [
      [
        'steps',
        'CriticalSteps vs SequentialSteps',
        `${n0(m.criticalSteps)} vs ${n0(m.sequentialSteps)} → ${ratio(m.stepSpeedup)}`,
      ],
      [
        'time',
        'wall-clock vs critical path',
        `${ms(m.wallClockMs)} vs ${ms(m.criticalPathMs)} → overhead ${n3(m.overhead)}`,
      ],
      ['sequential', 'sequential time (sum of steps)', ms(m.sequentialMs)],
      ['rewards', 'r_parallel · r_finish · r_perf', `${n3(m.rParallel)} · ${n3(m.rFinish)} · ${n3(m.rPerf)}`],
      ['reward', 'rPARL', m.reward === null ? 'unscored' : n3(m.reward)],
      ['subagents', 'sub-agents completed', `${m.subagents.completed} of ${m.subagents.spawned}`],
      [
        'tokens',
        'tokens in (cached) · out',
        `${n0(m.tokens.input)} (${n0(m.tokens.cachedInput)}) · ${n0(m.tokens.output)}`,
      ],
      ['cost', 'cost', usd(m.costUsd)],
      [
        'limits',
        '429s · waited',
        `${n0(m.provider?.rateLimited ?? calls)} · ${ms(m.provider?.waitedMs ?? waited)}`,
      ],
    ];
  }
  const tokens = tokenTotals(steps);
  return [
    [
      'steps',
      'CriticalSteps vs SequentialSteps (so far)',
      `${n0(criticalSteps(steps))} vs ${n0(sequentialSteps(steps))}`,
    ],
    [
      'time',
      'critical path · sequential (so far)',
      `${ms(criticalPathMs(steps))} · ${ms(sequentialMs(steps))}`,
    ],
    ['subagents', 'sub-agents done/total', subagentsOf(job)],
    [
      'tokens',
      'tokens in (cached) · out',
      `${n0(tokens.input)} (${n0(tokens.cachedInput)}) · ${n0(tokens.output)}`,
    ],
    ['cost', 'cost so far', usd(costUsd(tokens))],
    ['limits', '429s · waited', `${n0(calls)} · ${ms(waited)}`],
  ];
}

function laneList(t: Timeline): HTMLElement {
  const steps = new Map<number, number>();
  for (const b of t.bars) steps.set(b.lane, (steps.get(b.lane) ?? 0) + 1);
  return h(
    'details',
    { class: 'lanes' },
    h('summary', {}, `${t.lanes.length} lanes${t.aggregated ? ' (sub-agents grouped)' : ''}`),
    h(
      'ol',
      {},
      ...t.lanes.map((l, i) =>
        h(
          'li',
          { 'data-lane': l.label, 'data-critical': String(l.critical) },
          `${l.label}: ${steps.get(i) ?? 0} steps${l.critical ? ' · critical path' : ''}`,
        ),
      ),
    ),
  );
}

export const jobView: View = (root, _params, path) => {
  const id = path[1] ?? '';
  const title = h('h2', {}, `Job ${id}`);
  const status = h('p', { class: 'job-status' });
  const chartEl = h('div', { class: 'gantt', 'data-testid': 'timeline' });
  const legend = h('p', { class: 'legend' });
  const side = h('aside', { class: 'measures' });
  const lanes = h('div');
  const error = h('p', { class: 'error' });
  root.append(
    title,
    status,
    h('div', { class: 'job-grid' }, h('div', {}, chartEl, legend, lanes), side),
    error,
  );
  const chart = ganttChart(chartEl);
  const tick = async () => {
    const [job, steps] = await Promise.all([getJob(id), getSteps(id)]);
    const t = buildTimeline(steps, job.acceptedAt);
    chart.update(t);
    status.textContent = `${job.status} · ${job.request.mode} · ${job.request.task} · accepted ${when(job.acceptedAt)}${job.error ? ` · ${job.error}` : ''}`;
    status.dataset.status = job.status;
    legend.replaceChildren(
      h('span', { class: 'key critical' }, 'critical path'),
      h('span', { class: 'key call' }, 'model call'),
      h('span', { class: 'key wait' }, 'waiting (limiter, retries)'),
      ` Critical path: ${['planner', ...t.criticalAgents, 'synthesizer'].filter((a) => t.lanes.some((l) => l.agents.includes(a))).join(' → ')} = ${ms(t.criticalPathMs)}`,
    );
    legend.dataset.critical = t.criticalAgents.join(',');
    side.replaceChildren(
      h('h3', {}, job.metrics ? 'Measures' : 'Measures so far'),
      facts(measureRows(job, steps)),
    );
    lanes.replaceChildren(laneList(t));
    // The bench reads this: the time from navigation to the first complete timeline.
    if (performance.getEntriesByName('parl:timeline').length === 0) performance.mark('parl:timeline');
    error.textContent = '';
    return !TERMINAL.has(job.status);
  };
  const stop = poll(tick, 1500, (e) => {
    error.textContent = String((e as Error).message ?? e);
  });
  return () => {
    stop();
    chart.dispose();
  };
};
