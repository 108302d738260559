/**
 * The jobs list: the tenant's jobs, newest first, 20 a page (the API's cursor), refreshed every
 * 2 s: status, sub-agents done/total, reward, cost.
 */
import { type JobView, listJobs } from '../api';
import { h, n3, usd, when } from '../format';
import { poll, type View } from '../view';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** Sub-agents done/total: the metrics of a finished job, else the job's progress, else its plan. */
export function subagentsOf(job: JobView): string {
  const m = job.metrics?.subagents;
  if (m && TERMINAL.has(job.status)) return `${m.completed}/${m.spawned}`;
  const p = job.progress?.subagents;
  const total = p?.total ?? job.plan?.agents;
  if (total === undefined) return '–';
  return `${p?.done ?? '…'}/${total}`;
}

function row(job: JobView): HTMLTableRowElement {
  const m = job.metrics;
  return h(
    'tr',
    { 'data-job': job.jobId, 'data-status': job.status },
    h('td', {}, h('a', { href: `#/jobs/${job.jobId}` }, job.jobId.slice(0, 8))),
    h('td', { class: 'task' }, job.request.task),
    h('td', {}, job.request.mode),
    h('td', {}, h('span', { class: `status ${job.status.toLowerCase()}` }, job.status)),
    h('td', { 'data-col': 'subagents' }, subagentsOf(job)),
    h('td', { 'data-col': 'reward' }, m ? n3(m.reward) : '–'),
    h('td', { 'data-col': 'cost' }, m ? usd(m.costUsd) : '–'),
    h('td', {}, when(job.acceptedAt)),
  );
}

export const jobsView: View = (root) => {
  const cursors: (string | undefined)[] = [undefined];
  let page = 0;
  let next: string | undefined;
  const body = h('tbody');
  const info = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', 'data-action': 'newer' }, '← newer');
  const more = h('button', { type: 'button', 'data-action': 'older' }, 'older →');
  const error = h('p', { class: 'error' });
  root.append(
    h('h2', {}, 'Jobs'),
    h(
      'table',
      { class: 'jobs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['job', 'task', 'mode', 'status', 'sub-agents', 'rPARL', 'cost', 'accepted'].map((c) =>
            h('th', {}, c),
          ),
        ),
      ),
      body,
    ),
    h('div', { class: 'pager' }, prev, info, more),
    error,
  );
  const refresh = async () => {
    const res = await listJobs(cursors[page]);
    next = res.nextCursor;
    body.replaceChildren(
      ...(res.items.length > 0
        ? res.items.map(row)
        : [
            h(
              'tr',
              {},
              h('td', { colspan: '8', class: 'muted' }, 'No jobs yet: submit one with POST /v1/jobs.'),
            ),
          ]),
    );
    info.textContent = `page ${page + 1}`;
    prev.disabled = page === 0;
    more.disabled = next === undefined;
    error.textContent = '';
    return true;
  };
  prev.onclick = () => {
    if (page > 0) page--;
    void refresh();
  };
  more.onclick = () => {
    if (next === undefined) return;
    cursors[page + 1] = next;
    page++;
    void refresh();
  };
  return poll(refresh, 2000, (e) => {
    error.textContent = String((e as Error).message ?? e);
  });
};
