/**
 * Charts of the bench results as SVG, rendered by ECharts' server-side renderer (no browser, no
 * canvas): one line/scatter helper and one bar helper, and the charts of each suite.
 */
import * as echarts from 'echarts';
import type { AbReport } from './ab-report';

/** One series of points [x, y]. */
export interface Series {
  name: string;
  points: [number, number][];
  /** Draw points only (no line). */
  scatter?: boolean;
  /** A dashed reference line (e.g. the mission's claim). */
  reference?: boolean;
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  xName: string;
  yName: string;
  series: Series[];
  xLog?: boolean;
  yLog?: boolean;
  width?: number;
  height?: number;
}

/** Renders an ECharts option to an SVG string. */
function renderSvg(option: echarts.EChartsOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, backgroundColor: '#ffffff', ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const titleOf = (title: string, subtitle?: string) => ({
  text: title,
  ...(subtitle ? { subtext: subtitle } : {}),
  left: 'center',
  textStyle: { fontSize: 15 },
});

/** A line (or scatter) chart of numeric x against numeric y. */
export function lineChart(spec: LineChartSpec): string {
  return renderSvg(
    {
      title: titleOf(spec.title, spec.subtitle),
      legend: { bottom: 0 },
      grid: { top: spec.subtitle ? 70 : 50, bottom: 70, left: 80, right: 30 },
      xAxis: {
        type: spec.xLog ? 'log' : 'value',
        name: spec.xName,
        nameLocation: 'middle',
        nameGap: 28,
        min: spec.xLog ? undefined : 'dataMin',
      },
      yAxis: { type: spec.yLog ? 'log' : 'value', name: spec.yName, nameLocation: 'middle', nameGap: 55 },
      series: spec.series.map((s) => ({
        name: s.name,
        type: s.scatter ? 'scatter' : 'line',
        data: s.points,
        symbolSize: s.scatter ? 5 : 6,
        ...(s.reference ? { lineStyle: { type: 'dashed' } } : {}),
      })),
    },
    spec.width ?? 800,
    spec.height ?? 420,
  );
}

export interface BarChartSpec {
  title: string;
  subtitle?: string;
  categories: string[];
  yName: string;
  series: { name: string; values: number[] }[];
  width?: number;
  height?: number;
}

/** Grouped bars: one group per category, one bar per series. */
export function barChart(spec: BarChartSpec): string {
  return renderSvg(
    {
      title: titleOf(spec.title, spec.subtitle),
      legend: { bottom: 0 },
      grid: { top: spec.subtitle ? 70 : 50, bottom: 60, left: 80, right: 30 },
      xAxis: { type: 'category', data: spec.categories },
      yAxis: { type: 'value', name: spec.yName, nameLocation: 'middle', nameGap: 55 },
      series: spec.series.map((s) => ({
        name: s.name,
        type: 'bar',
        data: s.values,
        label: { show: true, position: 'top' },
      })),
    },
    spec.width ?? 800,
    spec.height ?? 420,
  );
}

/** The A/B chart: the first measure of every run, per pair, one series per arm. */
export function abChart(report: AbReport): string {
  const c = report.comparisons[0]!;
  return lineChart({
    title: `${c.measure.label}: ${report.arms[0]} vs ${report.arms[1]} (${c.a.n} pairs)`,
    subtitle: `ratio of means ${c.ratio.estimate.toFixed(2)}× [${c.ratio.low.toFixed(2)}, ${c.ratio.high.toFixed(2)}] · Welch p ${c.welch.pValue.toExponential(1)} · Mann–Whitney p ${c.mannWhitney.pValue.toExponential(1)}`,
    xName: 'pair (seed)',
    yName: c.measure.label,
    yLog: report.arms[0] === 'sequential',
    series: report.arms.map((arm) => ({
      name: arm,
      scatter: true,
      points: report.runs
        .filter((r) => r.arm === arm)
        .map((r) => [r.pair + 1, r[c.measure.key]] as [number, number]),
    })),
  });
}
