/**
 * The Gantt chart of a job's timeline on ECharts: a custom series draws one bar per step in its
 * agent's lane (a grey part for the time waited on the limiter or retries, then the model call),
 * critical-path steps in red, stage boundaries as vertical lines, zoom on both axes (dataZoom).
 */
import { CustomChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, MarkLineComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { ms, n0 } from './format';
import type { Timeline } from './timeline';

echarts.use([
  CustomChart,
  GridComponent,
  TooltipComponent,
  DataZoomComponent,
  MarkLineComponent,
  CanvasRenderer,
]);

export const COLORS = { call: '#4263eb', critical: '#e03131', wait: '#ced4da' };

type RenderApi = {
  value(dim: number): number;
  coord(point: number[]): number[];
  size(point: number[]): number[];
};
type RenderParams = { coordSys: { x: number; y: number; width: number; height: number } };

function renderStep(params: RenderParams, api: RenderApi) {
  const lane = api.value(0);
  const [xWait = 0, y = 0] = api.coord([api.value(1), lane]);
  const [x0 = 0] = api.coord([api.value(2), lane]);
  const [x1 = 0] = api.coord([api.value(3), lane]);
  const height = Math.max(2, (api.size([0, 1])[1] ?? 10) * 0.6);
  const clip = params.coordSys;
  const rect = (x: number, w: number) =>
    echarts.graphic.clipRectByRect({ x, y: y - height / 2, width: Math.max(w, 1), height }, clip);
  const call = rect(x0, x1 - x0);
  const wait = x0 - xWait > 1 ? rect(xWait, x0 - xWait) : undefined;
  const critical = api.value(4) === 1;
  return {
    type: 'group',
    children: [
      ...(wait ? [{ type: 'rect', shape: wait, style: { fill: COLORS.wait } }] : []),
      ...(call
        ? [{ type: 'rect', shape: call, style: { fill: critical ? COLORS.critical : COLORS.call } }]
        : []),
    ],
  };
}

function option(t: Timeline): echarts.EChartsCoreOption {
  const data = t.bars.map((b, i) => [b.lane, b.waitStart, b.start, b.end, b.critical ? 1 : 0, i]);
  return {
    animation: false,
    grid: { left: 190, right: 40, top: 20, bottom: 70 },
    tooltip: {
      formatter: (p: { value: number[] }) => {
        const b = t.bars[p.value[5] ?? 0];
        if (!b) return '';
        const s = b.step;
        return [
          `<b>${s.agentId}</b> · stage ${s.stage} · step ${s.step}${b.critical ? ' · <b>critical path</b>' : ''}`,
          `call ${ms(s.durationMs)}${s.waitedMs ? ` · waited ${ms(s.waitedMs)}` : ''}${s.rateLimited ? ` · ${s.rateLimited}× 429` : ''}`,
          `tokens in ${n0(s.inputTokens)} (cached ${n0(s.cachedInputTokens)}) · out ${n0(s.outputTokens)}`,
          `${s.status}${s.error ? `: ${s.error}` : ''}`,
        ].join('<br>');
      },
    },
    xAxis: {
      type: 'value',
      min: 0,
      axisLabel: { formatter: (v: number) => ms(v) },
      splitLine: { lineStyle: { color: '#f1f3f5' } },
    },
    yAxis: {
      type: 'category',
      inverse: true,
      data: t.lanes.map((l) => l.label),
      axisLabel: {
        fontSize: 11,
        color: (_v: unknown, i: number) => (t.lanes[i]?.critical ? COLORS.critical : '#495057'),
      },
    },
    dataZoom: [
      { type: 'slider', xAxisIndex: 0, filterMode: 'weakFilter', height: 18, bottom: 20 },
      { type: 'inside', xAxisIndex: 0, filterMode: 'weakFilter' },
      { type: 'slider', yAxisIndex: 0, filterMode: 'weakFilter', width: 14, right: 8, zoomLock: false },
    ],
    series: [
      {
        type: 'custom',
        renderItem: renderStep,
        encode: { x: [1, 2, 3], y: 0 },
        data,
        markLine: {
          symbol: 'none',
          silent: true,
          lineStyle: { color: '#868e96', type: 'dashed' },
          label: { formatter: '{b}', position: 'insideEndTop' },
          data: t.stages.map((s) => ({ name: `stage ${s.stage}`, xAxis: s.at })),
        },
      },
    ],
  };
}

/** A Gantt chart in `el`; `update` redraws it with a new timeline (keeping the zoom). */
export function ganttChart(el: HTMLElement) {
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  const resize = () => chart.resize();
  window.addEventListener('resize', resize);
  return {
    update(t: Timeline) {
      el.style.height = `${Math.min(900, Math.max(220, 110 + t.lanes.length * 22))}px`;
      chart.resize();
      chart.setOption(option(t), { replaceMerge: ['series'], lazyUpdate: false });
    },
    dispose() {
      window.removeEventListener('resize', resize);
      chart.dispose();
    },
  };
}
