import { describe, expect, it } from 'vitest';
import {
  bootstrapRatioOfMeans,
  cohensD,
  compare,
  mannWhitneyU,
  pairedTTest,
  quantile,
  summarize,
  welchTTest,
} from '../../bench/report/stats';
import { boundOf, phasesOf } from '../../bench/suites/load-bound';

// Student's sleep data (R's `sleep`): extra hours of sleep under drug 1 and drug 2.
const drug1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const drug2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

describe('summarize', () => {
  it('gives n, mean, sample sd, median and the type-7 p95', () => {
    // Prepare: 1..20
    const xs = Array.from({ length: 20 }, (_, i) => i + 1);
    // Act
    const s = summarize(xs);
    // Assess: mean 10.5; variance Σ(x − 10.5)² / 19 = 665 / 19 = 35; p95 at 1 + 19·0.95 = 19.05
    expect(s).toMatchObject({ n: 20, mean: 10.5, median: 10.5, min: 1, max: 20 });
    expect(s.sd).toBeCloseTo(Math.sqrt(35), 12);
    expect(s.p95).toBeCloseTo(19.05, 12);
  });

  it('interpolates the median of an even sample', () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
  });
});

describe('welchTTest', () => {
  it('matches the hand-worked statistic and degrees of freedom', () => {
    // x̄ = 2.5, s²x = 5/3; ȳ = 5, s²y = 20/3; se² = 5/12 + 20/12 = 25/12
    // t = −2.5 / √(25/12) = −√3; df = (25/12)² / ((5/12)²/3 + (20/12)²/3) = 625·3 / 425 = 75/17
    const r = welchTTest([1, 2, 3, 4], [2, 4, 6, 8]);
    expect(r.t).toBeCloseTo(-Math.sqrt(3), 10);
    expect(r.df).toBeCloseTo(75 / 17, 10);
  });

  it("matches R's t.test(extra ~ group, data = sleep): t = −1.8608, df = 17.776, p = 0.07939", () => {
    const r = welchTTest(drug1, drug2);
    expect(r.t).toBeCloseTo(-1.8608, 4);
    expect(r.df).toBeCloseTo(17.776, 3);
    expect(r.pValue).toBeCloseTo(0.07939, 5);
  });
});

describe('pairedTTest', () => {
  it("matches R's t.test(extra ~ group, data = sleep, paired = TRUE): t = −4.0621, df = 9, p = 0.002833", () => {
    const r = pairedTTest(drug1, drug2);
    expect(r.t).toBeCloseTo(-4.0621, 4);
    expect(r.df).toBe(9);
    expect(r.pValue).toBeCloseTo(0.002833, 6);
  });

  it('refuses samples of different lengths', () => {
    expect(() => pairedTTest([1, 2], [1])).toThrow(RangeError);
  });
});

describe('mannWhitneyU', () => {
  it('gives U = 0 and the corrected normal p for fully separated samples', () => {
    // U = 0, E[U] = 4.5, sd = √(3·3·7/12) = √5.25; z = (0 − 4.5 + 0.5)/√5.25 = −1.7457; p = 0.08086
    const r = mannWhitneyU([1, 2, 3], [4, 5, 6]);
    expect(r.u).toBe(0);
    expect(r.z).toBeCloseTo(-4 / Math.sqrt(5.25), 10);
    expect(r.pValue).toBeCloseTo(0.08086, 5);
    expect(r.probabilityXGreater).toBe(0);
  });

  it("matches R's wilcox.test(extra ~ group, data = sleep) with ties: W = 25.5, p = 0.06933", () => {
    const r = mannWhitneyU(drug1, drug2);
    expect(r.u).toBe(25.5);
    expect(r.pValue).toBeCloseTo(0.06933, 5);
  });

  it('is symmetric: swapping the samples mirrors U and keeps p', () => {
    const a = mannWhitneyU(drug1, drug2);
    const b = mannWhitneyU(drug2, drug1);
    expect(a.u + b.u).toBe(drug1.length * drug2.length);
    expect(b.pValue).toBeCloseTo(a.pValue, 12);
  });
});

describe('cohensD', () => {
  it('is the difference of means over the pooled sd', () => {
    // means 2.5 and 5, variances 5/3 and 20/3, equal n: pooled sd = √(25/6)
    expect(cohensD([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(-2.5 / Math.sqrt(25 / 6), 12);
  });
});

describe('bootstrapRatioOfMeans', () => {
  it('resamples pairs: with two pairs the interval spans the two one-pair ratios', () => {
    // Pairs (2, 1) and (6, 1): a resample is {0,0} → 2, {0,1} or {1,0} → 8/2 = 4, {1,1} → 6, each
    // extreme with probability 1/4, so the 2.5 % and 97.5 % quantiles are 2 and 6; the estimate is 4.
    const ci = bootstrapRatioOfMeans([2, 6], [1, 1], { paired: true, resamples: 10_000, seed: 7 });
    expect(ci).toMatchObject({ estimate: 4, low: 2, high: 6, level: 0.95, resamples: 10_000 });
  });

  it('collapses to the point when every resample has the same ratio', () => {
    const ci = bootstrapRatioOfMeans([3, 3, 3], [1, 1], { paired: false, resamples: 500 });
    expect(ci).toMatchObject({ estimate: 3, low: 3, high: 3 });
  });

  it('is reproducible under its seed and contains the estimate', () => {
    const a = bootstrapRatioOfMeans(
      drug2,
      drug1.map((x) => x + 2),
      { seed: 3, resamples: 2_000 },
    );
    const b = bootstrapRatioOfMeans(
      drug2,
      drug1.map((x) => x + 2),
      { seed: 3, resamples: 2_000 },
    );
    expect(a).toEqual(b);
    expect(a.low).toBeLessThan(a.estimate);
    expect(a.high).toBeGreaterThan(a.estimate);
  });

  it('refuses paired samples of different lengths', () => {
    expect(() => bootstrapRatioOfMeans([1, 2], [1], { paired: true })).toThrow(RangeError);
  });
});

describe('compare', () => {
  it('puts the summaries, the ratio, both tests and the effect size together', () => {
    const c = compare(drug2, drug1, { seed: 1, resamples: 1_000, paired: true });
    expect(c.a.n).toBe(10);
    expect(c.b.mean).toBeCloseTo(0.75, 12);
    expect(c.ratio.estimate).toBeCloseTo(2.33 / 0.75, 12);
    expect(c.welch.pValue).toBeCloseTo(0.07939, 5);
    expect(c.mannWhitney.u).toBe(100 - 25.5);
    expect(c.cohensD).toBeGreaterThan(0);
  });
});

describe('the load bench bound', () => {
  it('is the slowest sub-agent call plus the synthesizer call, the last the simulator answered', () => {
    // Prepare: three sub-agent calls, then the synthesizer's
    const modelled = [120.4, 310.2, 95, 800.6];

    // Act
    const bound = boundOf(modelled, 1_666);

    // Assess
    expect(bound).toEqual({ boundMs: 1111, overBound: 1_666 / 1111 });
  });

  it('is undefined without latency or without calls to bound', () => {
    expect(boundOf([0, 0, 0], 500)).toEqual({});
    expect(boundOf([250], 500)).toEqual({});
    expect(boundOf([], 500)).toEqual({});
  });
});

describe('the load bench phases', () => {
  const step = (role: string, n: number, start: number, end: number) => ({
    role,
    step: n,
    startedAt: new Date(Date.UTC(2026, 11, 3, 12, 0, 0, start)).toISOString(),
    endedAt: new Date(Date.UTC(2026, 11, 3, 12, 0, 0, end)).toISOString(),
  });
  const job = {
    acceptedAt: new Date(Date.UTC(2026, 11, 3, 12, 0, 0, 0)).toISOString(),
    finishedAt: new Date(Date.UTC(2026, 11, 3, 12, 0, 1, 700)).toISOString(),
  };

  it('splits the wall-clock at the first and last sub-agent call starts, their end and the synthesizer', () => {
    // Prepare: three sub-agents (one with a second step that ends last), a planner step before
    // them, the synthesizer from 900 to 1,650 ms, the result stored at 1,700 ms
    const steps = [
      step('main', 1, 20, 60),
      step('sub', 1, 250, 500),
      step('sub', 1, 310, 520),
      step('sub', 1, 400, 600),
      step('sub', 2, 600, 780),
      step('main', 1, 900, 1_650),
    ];

    // Act
    const phases = phasesOf(job, steps);

    // Assess: 250 to the first call; the last first call 150 ms later; 780 → 900; 1,650 → 1,700
    expect(phases).toEqual({
      toFirstCallMs: 250,
      callStartSpreadMs: 150,
      toSynthesisMs: 120,
      afterSynthesisMs: 50,
    });
  });

  it('is undefined without a synthesizer call after the sub-agents or without a finish time', () => {
    const subs = [step('sub', 1, 250, 500)];
    expect(phasesOf(job, subs)).toBeUndefined();
    expect(phasesOf(job, [...subs, step('main', 1, 20, 60)])).toBeUndefined();
    expect(phasesOf({ acceptedAt: job.acceptedAt }, [...subs, step('main', 1, 600, 700)])).toBeUndefined();
    expect(phasesOf(job, [step('main', 1, 600, 700)])).toBeUndefined();
  });
});
