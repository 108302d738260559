/** The A/B report: its shape (the JSON), its console table and its Markdown. */
import { besideName } from './artifacts';
import type { Comparison } from './stats';

/** One job of an A/B run, with the figures the report can test. */
export interface AbRun {
  pair: number;
  seed: number;
  arm: string;
  /** 0 when this arm ran first in its pair. */
  order: number;
  status: string;
  wallClockMs: number;
  criticalPathMs: number;
  overhead: number;
  criticalSteps: number;
  sequentialSteps: number;
  outputTokens: number;
  inputTokens: number;
  costUsd: number;
  rPerf: number;
  reward: number;
}

/** A measure the report tests: a numeric field of {@link AbRun}. */
export interface AbMeasure {
  key: keyof Omit<AbRun, 'arm' | 'status'>;
  label: string;
  ratioLabel: string;
}

export interface AbReport {
  suite: 'ab';
  at: string;
  machine: { cpus: number; node: string };
  params: Record<string, unknown>;
  arms: [string, string];
  environment: string[];
  durationS: number;
  succeeded: number[];
  comparisons: (Comparison & { measure: AbMeasure })[];
  runs: AbRun[];
}

const fmt = (x: number, digits = 0): string =>
  Number.isFinite(x)
    ? x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';
const digitsOf = (c: { a: { mean: number } }): number => (Math.abs(c.a.mean) < 10 ? 3 : 0);

/** p-values as a reader wants them: small ones in scientific notation, never a bare 0. */
export const formatP = (p: number): string =>
  Number.isNaN(p) ? '– (no spread)' : p < 1e-300 ? '< 1e-300' : p < 0.001 ? p.toExponential(2) : p.toFixed(3);

/** The per-arm rows: arm, measure, n, mean, median, p95. */
function armRows(report: AbReport): string[][] {
  return report.comparisons.flatMap((c) =>
    (['a', 'b'] as const).map((side, i) => [
      report.arms[i]!,
      c.measure.label,
      String(c[side].n),
      fmt(c[side].mean, digitsOf(c)),
      fmt(c[side].median, digitsOf(c)),
      fmt(c[side].p95, digitsOf(c)),
      fmt(c[side].sd, digitsOf(c)),
    ]),
  );
}

/** The test rows: measure, ratio with its CI, Welch p, Mann–Whitney p, Cohen's d. */
function testRows(report: AbReport): string[][] {
  return report.comparisons.map((c) => [
    c.measure.label,
    `${fmt(c.ratio.estimate, 3)}× [${fmt(c.ratio.low, 3)}, ${fmt(c.ratio.high, 3)}]`,
    `${formatP(c.welch.pValue)} (t ${fmt(c.welch.t, 2)}, df ${fmt(c.welch.df, 1)})`,
    `${formatP(c.mannWhitney.pValue)} (U ${fmt(c.mannWhitney.u, 1)})`,
    fmt(c.cohensD, 2),
  ]);
}

const ARM_HEAD = ['arm', 'measure', 'n', 'mean', 'median', 'p95', 'sd'];
const TEST_HEAD = ['measure', 'A/B ratio of means [95 % CI]', "Welch's t p", 'Mann–Whitney U p', "Cohen's d"];

/** The console table, as lines. */
export function abTable(report: AbReport): string[] {
  const block = (rows: string[][]): string[] => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  };
  return [
    ...block([ARM_HEAD, ...armRows(report)]),
    '',
    `A = ${report.arms[0]}, B = ${report.arms[1]}`,
    ...block([TEST_HEAD, ...testRows(report)]),
    `${report.runs.length} jobs in ${report.durationS} s; succeeded ${report.succeeded.join(' / ')}`,
  ];
}

const mdTable = (rows: string[][]): string[] => [
  `| ${rows[0]!.join(' | ')} |`,
  `| ${rows[0]!.map(() => '---').join(' | ')} |`,
  ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`),
];

/** The Markdown report: environment, both tables, the chart, and how to recompute. */
export function abMarkdown(report: AbReport, jsonFile: string): string {
  return [
    `# A/B: ${report.arms[0]} (A) vs ${report.arms[1]} (B)`,
    '',
    `${report.at} · ${report.runs.length} jobs in ${report.durationS} s · \`npm run bench -- --suite ab ${Object.entries(
      report.params,
    )
      .filter(([k]) => k !== 'resamples')
      .map(([k, v]) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${v}`)
      .join(' ')}\``,
    '',
    ...report.environment.map((line) => `- ${line}`),
    '',
    ...mdTable([ARM_HEAD, ...armRows(report)]),
    '',
    ...mdTable([TEST_HEAD, ...testRows(report)]),
    '',
    `Ratio: mean(A) / mean(B), paired bootstrap percentile interval (${report.comparisons[0]?.ratio.resamples ?? 0} resamples of the pairs). ` +
      'p-values are two-sided; the U test uses the normal approximation with tie and continuity correction. ' +
      `Succeeded: ${report.arms[0]} ${report.succeeded[0]}, ${report.arms[1]} ${report.succeeded[1]}.`,
    '',
    `![chart](${besideName(jsonFile, 'svg')})`,
    '',
    `Every run's figures are in [${besideName(jsonFile, 'json')}](${besideName(jsonFile, 'json')}) (\`runs\`).`,
  ].join('\n');
}
