/**
 * How PARL Swarm's wall-clock compares with each peer's in the `peers` suite, with its uncertainty:
 * the reps are pairs (the frameworks take turns within a rep, so a rep's runs share the machine's
 * mood), so the ratio of mean wall-clocks gets a paired bootstrap interval and the difference a
 * paired t-test, beside Welch's and the Mann–Whitney tests of the two samples taken apart. A ratio of medians alone (five reps) could not say whether
 * ours was slower by 3 % or just unlucky.
 */
import { compare, type Interval, mean, pairedTTest, quantile } from './stats';

const median = (xs: readonly number[]) => quantile(xs, 0.5);

/** One run of the suite, as the comparison reads it. */
export interface PeerRun {
  framework: string;
  rep: number;
  wallClockMs: number;
  /** Wall-clock over the framework's own schedule bound. */
  overhead: number;
}

/** What the wall-clocks say: ours is slower or faster (the interval leaves 1 out), or not told apart. */
export type PeerVerdict = 'slower' | 'faster' | 'not told apart';

/** Ours against one peer. */
export interface PeerVersus {
  framework: string;
  /** Reps both ran (the pairs). */
  pairs: number;
  /** median(ours) / median(theirs): wall-clock and wall-clock over bound. */
  wallRatio: number;
  overheadRatio: number;
  /** mean(ours) / mean(theirs) over the pairs, with its paired bootstrap 95 % interval. */
  wallRatioOfMeans: Interval;
  /** Mean of (ours − theirs) over the pairs, ms: above 0, ours took longer. */
  meanDifferenceMs: number;
  /** The paired t-test of the differences (the test for this design), then the two unpaired ones. */
  pairedP: number;
  welchP: number;
  mannWhitneyP: number;
  verdict: PeerVerdict;
}

/**
 * Ours (`ours`) against every other framework of `runs`, paired by rep (a rep that one of the two
 * lacks is left out). Seeded: the same runs give the same interval.
 *
 * @example
 * versusPeers(rows, 'parl-swarm').map((v) => `${v.framework}: ×${v.wallRatioOfMeans.estimate}`);
 */
export function versusPeers(runs: readonly PeerRun[], ours: string, seed = 1): PeerVersus[] {
  const byRep = (framework: string) =>
    new Map(runs.filter((r) => r.framework === framework).map((r) => [r.rep, r]));
  const own = byRep(ours);
  const peers = [...new Set(runs.map((r) => r.framework))].filter((f) => f !== ours);
  return peers.map((framework) => {
    const theirs = byRep(framework);
    const reps = [...own.keys()].filter((rep) => theirs.has(rep)).sort((a, b) => a - b);
    const a = reps.map((rep) => own.get(rep)!);
    const b = reps.map((rep) => theirs.get(rep)!);
    const wall = compare(
      a.map((r) => r.wallClockMs),
      b.map((r) => r.wallClockMs),
      { paired: true, seed },
    );
    const ratio = wall.ratio;
    return {
      framework,
      pairs: reps.length,
      wallRatio: median(a.map((r) => r.wallClockMs)) / median(b.map((r) => r.wallClockMs)),
      overheadRatio: median(a.map((r) => r.overhead)) / median(b.map((r) => r.overhead)),
      wallRatioOfMeans: ratio,
      meanDifferenceMs: mean(a.map((r, i) => r.wallClockMs - b[i]!.wallClockMs)),
      pairedP:
        reps.length > 1
          ? pairedTTest(
              a.map((r) => r.wallClockMs),
              b.map((r) => r.wallClockMs),
            ).pValue
          : Number.NaN,
      welchP: wall.welch.pValue,
      mannWhitneyP: wall.mannWhitney.pValue,
      verdict: ratio.low > 1 ? 'slower' : ratio.high < 1 ? 'faster' : 'not told apart',
    };
  });
}

/** One line for the console and the notes. */
export function versusLine(ours: string, v: PeerVersus): string {
  const r = v.wallRatioOfMeans;
  const sign = v.meanDifferenceMs >= 0 ? '+' : '−';
  return (
    `${ours} vs ${v.framework}: wall-clock ×${v.wallRatio.toFixed(3)} in medians, ×${r.estimate.toFixed(3)} in means ` +
    `(95 % CI ${r.low.toFixed(3)}–${r.high.toFixed(3)}, ${v.pairs} paired reps), ${sign}${Math.abs(v.meanDifferenceMs).toFixed(0)} ms a run; ` +
    `paired t p = ${v.pairedP.toPrecision(2)} (Welch ${v.welchP.toPrecision(2)}, Mann–Whitney ${v.mannWhitneyP.toPrecision(2)}): ${v.verdict}; ` +
    `over the bound ×${v.overheadRatio.toFixed(2)} (below 1: ours is faster)`
  );
}
