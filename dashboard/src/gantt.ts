/**
 * The Gantt chart of a job's timeline on ECharts: a custom series draws the timeline's spans, one
 * rectangle each (a step's wait on the limiter or retries in grey, its model call in blue; in a
 * shared lane the union of its agents' waits or calls), critical-path steps in red, stage
 * boundaries as vertical lines, zoom on both axes (dataZoom).
 */
import { CustomChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, MarkLineComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { ms, n0 } from './format';
import type { Span, Timeline } from './timeline';

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

/** The fill of a span: 0 wait, 1 call, 2 critical call. */
const FILLS = [COLORS.wait, COLORS.call, COLORS.critical];
const fillOf = (s: Span) => (s.kind === 'wait' ? 0 : s.critical ? 2 : 1);

function renderSpan(params: RenderParams, api: RenderApi) {
  const lane = api.value(0);
  const [x0 = 0, y = 0] = api.coord([api.value(1), lane]);
  const [x1 = 0] = api.coord([api.value(2), lane]);
  const fill = FILLS[api.value(3)] ?? COLORS.call;
  if (fill === COLORS.wait && x1 - x0 <= 1) return null;
  const height = Math.max(2, (api.size([0, 1])[1] ?? 10) * 0.6);
  const shape = echarts.graphic.clipRectByRect(
    { x: x0, y: y - height / 2, width: Math.max(x1 - x0, 1), height },
    params.coordSys,
  );
  return shape ? { type: 'rect', shape, style: { fill } } : null;
}

/** A span's tooltip: its step's, or what a shared lane's span covers. */
function spanTooltip(t: Timeline, span: Span | undefined): string {
  if (!span) return '';
  const b = span.bar === undefined ? undefined : t.bars[span.bar];
  if (!b) {
    const lane = t.lanes[span.lane]?.label ?? '';
    return `<b>${lane}</b><br>${span.steps} ${span.kind === 'wait' ? 'waits' : 'calls'} overlapping, ${ms(span.from)} – ${ms(span.to)}`;
  }
  const s = b.step;
  return [
    `<b>${s.agentId}</b> · stage ${s.stage} · step ${s.step}${b.critical ? ' · <b>critical path</b>' : ''}`,
    `call ${ms(s.durationMs)}${s.waitedMs ? ` · waited ${ms(s.waitedMs)}` : ''}${s.rateLimited ? ` · ${s.rateLimited}× 429` : ''}`,
    `tokens in ${n0(s.inputTokens)} (cached ${n0(s.cachedInputTokens)}) · out ${n0(s.outputTokens)}`,
    `${s.status}${s.error ? `: ${s.error}` : ''}`,
  ].join('<br>');
}

function option(t: Timeline): echarts.EChartsCoreOption {
  const data = t.spans.map((s, i) => [s.lane, s.from, s.to, fillOf(s), i]);
  return {
    animation: false,
    grid: { left: 190, right: 40, top: 20, bottom: 70 },
    tooltip: { formatter: (p: { value: number[] }) => spanTooltip(t, t.spans[p.value[4] ?? -1]) },
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
        renderItem: renderSpan,
        encode: { x: [1, 2], y: 0 },
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
