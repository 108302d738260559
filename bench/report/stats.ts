/**
 * The statistics of the bench reports: per-arm summaries, Welch's t-test, the paired t-test, the
 * Mann–Whitney U test, Cohen's d and a bootstrap confidence interval for a ratio of means.
 *
 * The distributions come from stdlib (`@stdlib/stats-ttest2` runs Welch's test with the
 * Satterthwaite degrees of freedom, `@stdlib/stats-ttest` the paired test; the U test's normal
 * approximation uses stdlib's normal CDF).
 * What is written here is arithmetic on the samples (ranks, tie correction, resampling), each
 * checked in test/unit/bench-stats.test.ts against answers worked by hand or published by R.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import ttest from '@stdlib/stats-ttest';
import ttest2 from '@stdlib/stats-ttest2';
import { seededRandom } from '#shared/domain/random';

/** n, mean, sample standard deviation, median, p95 and extremes of one arm. */
export interface Summary {
  n: number;
  mean: number;
  sd: number;
  median: number;
  p95: number;
  min: number;
  max: number;
}

export const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

/** The sample variance (n − 1 in the denominator); NaN below two values. */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
}

/**
 * The q-quantile with linear interpolation between order statistics (R's type 7, numpy's default):
 * position (n − 1)·q in the sorted sample.
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function summarize(xs: readonly number[]): Summary {
  return {
    n: xs.length,
    mean: mean(xs),
    sd: Math.sqrt(variance(xs)),
    median: quantile(xs, 0.5),
    p95: quantile(xs, 0.95),
    min: xs.length ? Math.min(...xs) : Number.NaN,
    max: xs.length ? Math.max(...xs) : Number.NaN,
  };
}

/** Welch's two-sided t-test of equal means (unequal variances). */
export interface WelchResult {
  t: number;
  df: number;
  pValue: number;
}

export function welchTTest(x: readonly number[], y: readonly number[]): WelchResult {
  const out = ttest2([...x], [...y], { variance: 'unequal' });
  const vx = variance(x) / x.length;
  const vy = variance(y) / y.length;
  // stdlib does not return the degrees of freedom; Satterthwaite's formula, as it uses them.
  const df = (vx + vy) ** 2 / (vx ** 2 / (x.length - 1) + vy ** 2 / (y.length - 1));
  return { t: out.statistic, df, pValue: out.pValue };
}

/**
 * Student's two-sided paired t-test: whether the mean of x[i] − y[i] is 0 (pairs measured together,
 * such as two frameworks' runs within one rep).
 */
export function pairedTTest(x: readonly number[], y: readonly number[]): WelchResult {
  if (x.length !== y.length) throw new RangeError('paired samples must have the same length');
  const out = ttest([...x], [...y]);
  return { t: out.statistic, df: x.length - 1, pValue: out.pValue };
}

/** The Mann–Whitney U test, two-sided, normal approximation with tie and continuity correction. */
export interface MannWhitneyResult {
  /** U of the first sample: pairs (x, y) with x > y, ties counting one half (R's W). */
  u: number;
  z: number;
  pValue: number;
  /** U / (n1·n2): the probability that a value of x exceeds one of y (common-language effect size). */
  probabilityXGreater: number;
}

export function mannWhitneyU(x: readonly number[], y: readonly number[]): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  const all = [...x.map((v) => ({ v, fromX: true })), ...y.map((v) => ({ v, fromX: false }))].sort(
    (a, b) => a.v - b.v,
  );
  let rankSumX = 0;
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const rank = (i + j + 2) / 2; // ranks are 1-based; a tie group shares its mean rank
    const size = j - i + 1;
    tieTerm += size ** 3 - size;
    for (let k = i; k <= j; k++) if (all[k]!.fromX) rankSumX += rank;
    i = j + 1;
  }
  const u = rankSumX - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const meanU = (n1 * n2) / 2;
  const sdU = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  const diff = u - meanU;
  const z = sdU === 0 ? 0 : (diff - Math.sign(diff) * 0.5) / sdU;
  const pValue = sdU === 0 ? 1 : Math.min(1, 2 * normalCdf(-Math.abs(z), 0, 1));
  return { u, z, pValue, probabilityXGreater: u / (n1 * n2) };
}

/** Cohen's d: the difference of means over the pooled standard deviation. */
export function cohensD(x: readonly number[], y: readonly number[]): number {
  const pooled = Math.sqrt(
    ((x.length - 1) * variance(x) + (y.length - 1) * variance(y)) / (x.length + y.length - 2),
  );
  return (mean(x) - mean(y)) / pooled;
}

/** A point estimate with its bootstrap percentile confidence interval. */
export interface Interval {
  estimate: number;
  low: number;
  high: number;
  level: number;
  resamples: number;
}

/**
 * The ratio mean(numerator) / mean(denominator) with a percentile bootstrap interval. With
 * `paired`, the samples are pairs (index i of both came from the same run) and the pairs are
 * resampled together; otherwise each sample is resampled on its own. Seeded: the same data and
 * seed give the same interval.
 */
export function bootstrapRatioOfMeans(
  numerator: readonly number[],
  denominator: readonly number[],
  opts: { resamples?: number; level?: number; seed?: number; paired?: boolean } = {},
): Interval {
  const resamples = opts.resamples ?? 10_000;
  const level = opts.level ?? 0.95;
  const paired = opts.paired ?? numerator.length === denominator.length;
  if (paired && numerator.length !== denominator.length)
    throw new RangeError('paired samples must have the same length');
  const random = seededRandom(opts.seed ?? 1);
  const pick = (n: number): number => Math.min(n - 1, Math.floor(random() * n));
  const ratios: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let num = 0;
    let den = 0;
    if (paired) {
      for (let i = 0; i < numerator.length; i++) {
        const k = pick(numerator.length);
        num += numerator[k]!;
        den += denominator[k]!;
      }
    } else {
      for (let i = 0; i < numerator.length; i++) num += numerator[pick(numerator.length)]!;
      for (let i = 0; i < denominator.length; i++) den += denominator[pick(denominator.length)]!;
      num /= numerator.length;
      den /= denominator.length;
    }
    ratios.push(num / den);
  }
  const alpha = (1 - level) / 2;
  return {
    estimate: mean(numerator) / mean(denominator),
    low: quantile(ratios, alpha),
    high: quantile(ratios, 1 - alpha),
    level,
    resamples,
  };
}

/** The whole comparison of two arms on one measure: what the A/B report prints. */
export interface Comparison {
  a: Summary;
  b: Summary;
  /** mean(a) / mean(b) with its bootstrap interval (for wall-clock with a = baseline: the speedup). */
  ratio: Interval;
  welch: WelchResult;
  mannWhitney: MannWhitneyResult;
  cohensD: number;
}

export function compare(
  a: readonly number[],
  b: readonly number[],
  opts: { paired?: boolean; seed?: number; resamples?: number } = {},
): Comparison {
  return {
    a: summarize(a),
    b: summarize(b),
    ratio: bootstrapRatioOfMeans(a, b, opts),
    welch: welchTTest(a, b),
    mannWhitney: mannWhitneyU(a, b),
    cohensD: cohensD(a, b),
  };
}
