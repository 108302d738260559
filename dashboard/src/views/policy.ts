/**
 * The fan-out policy: every scored job's rPARL over time (its convergence), coloured by the arm it
 * ran, and each arm's mean reward and count as the policy stores them (GET /v1/policy).
 */
import { BarChart, ScatterChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { getPolicies, type JobView, type PolicyView, recentJobs } from '../api';
import { h, n3 } from '../format';
import type { View } from '../view';

echarts.use([ScatterChart, BarChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

/** Scored jobs of a task class, oldest first, with the arm each ran. */
export function rewardHistory(jobs: readonly JobView[], taskClass: string) {
  return jobs
    .filter((j) => j.metrics?.reward != null && j.metrics.policy?.taskClass === taskClass && j.finishedAt)
    .map((j) => ({ at: j.finishedAt!, reward: j.metrics!.reward!, arm: j.metrics!.policy?.armId ?? '–' }))
    .sort((a, b) => a.at.localeCompare(b.at));
}

function policyCharts(el: HTMLElement, policy: PolicyView, jobs: readonly JobView[]): echarts.ECharts[] {
  const history = rewardHistory(jobs, policy.taskClass);
  const arms = [...new Set(history.map((p) => p.arm))].sort();
  const left = h('div', { class: 'chart' });
  const right = h('div', { class: 'chart' });
  el.append(h('div', { class: 'sides' }, left, right));
  const over = echarts.init(left);
  over.setOption({
    title: { text: 'rPARL per job', textStyle: { fontSize: 13 } },
    tooltip: {},
    legend: { top: 20 },
    grid: { top: 60 },
    xAxis: { type: 'time' },
    yAxis: { type: 'value', min: 0, max: 1 },
    series: arms.map((arm) => ({
      name: arm,
      type: 'scatter',
      data: history.filter((p) => p.arm === arm).map((p) => [p.at, p.reward]),
    })),
  });
  const means = echarts.init(right);
  means.setOption({
    title: { text: 'mean rPARL per arm (count)', textStyle: { fontSize: 13 } },
    tooltip: {},
    xAxis: { type: 'category', data: policy.arms.map((a) => `${a.id} (${a.count})`) },
    yAxis: { type: 'value', min: 0, max: 1 },
    series: [{ type: 'bar', data: policy.arms.map((a) => a.meanReward) }],
  });
  return [over, means];
}

export const policyView: View = (root) => {
  const error = h('p', { class: 'error' });
  const body = h('div', {}, 'loading…');
  root.append(h('h2', {}, 'Fan-out policy'), body, error);
  const charts: echarts.ECharts[] = [];
  let live = true;
  void Promise.all([getPolicies(), recentJobs()])
    .then(([{ policies }, jobs]) => {
      if (!live) return;
      body.replaceChildren();
      if (policies.length === 0)
        body.append(h('p', { class: 'muted' }, 'No policy yet: submit jobs with "policy": "learn".'));
      for (const p of policies) {
        const section = h(
          'section',
          { 'data-task-class': p.taskClass },
          h('h3', {}, `${p.taskClass} · ${p.jobs} jobs learned from`),
          h(
            'p',
            { class: 'muted' },
            p.arms.map((a) => `${a.id}: ${a.count} × ${n3(a.meanReward)}`).join(' · '),
          ),
        );
        body.append(section);
        charts.push(...policyCharts(section, p, jobs));
      }
    })
    .catch((e: unknown) => {
      error.textContent = String((e as Error).message ?? e);
    });
  return () => {
    live = false;
    for (const c of charts) c.dispose();
  };
};
