import { describe, expect, it } from 'vitest';
import { type PeerRun, versusLine, versusPeers } from '../../bench/report/peers-compare';

/** Runs of two frameworks, rep by rep (reps from 1), wall-clock over bound 1.1 for both. */
function runs(ours: number[], theirs: number[]): PeerRun[] {
  return [
    ...ours.map((wallClockMs, i) => ({ framework: 'parl-swarm', rep: i + 1, wallClockMs, overhead: 1.1 })),
    ...theirs.map((wallClockMs, i) => ({ framework: 'langgraph', rep: i + 1, wallClockMs, overhead: 1.1 })),
  ];
}

describe('versusPeers', () => {
  it('calls ours slower when every rep is ~10 ms slower: the pairs show it, the samples apart do not', () => {
    // Prepare: the reps vary by 100 ms, ours 9–11 ms behind in each
    const rows = runs([1_110, 1_211, 1_310, 1_209], [1_100, 1_200, 1_300, 1_200]);
    // Act
    const [v] = versusPeers(rows, 'parl-swarm');
    // Assess
    expect(v?.framework).toBe('langgraph');
    expect(v?.pairs).toBe(4);
    expect(v?.meanDifferenceMs).toBe(10);
    expect(v?.wallRatioOfMeans.estimate).toBeCloseTo(4_840 / 4_800, 10);
    expect(v?.wallRatioOfMeans.low).toBeGreaterThan(1);
    expect(v?.verdict).toBe('slower');
    // differences 10, 11, 10, 9: mean 10, sd √(2/3), t = 10 / (sd / 2) ≈ 24.49 with 3 df
    expect(v?.pairedP).toBeLessThan(0.001);
    expect(v?.welchP).toBeGreaterThan(0.5);
  });

  it('calls ours faster when the interval lies below 1', () => {
    // Prepare
    const rows = runs([1_000, 1_090, 1_205, 1_095], [1_100, 1_200, 1_300, 1_200]);
    // Act
    const [v] = versusPeers(rows, 'parl-swarm');
    // Assess
    expect(v?.wallRatioOfMeans.high).toBeLessThan(1);
    expect(v?.meanDifferenceMs).toBeCloseTo(-102.5, 10);
    expect(v?.verdict).toBe('faster');
  });

  it('does not tell them apart when ours is ahead in some reps and behind in others', () => {
    // Prepare
    const rows = runs([1_130, 1_170, 1_330, 1_170], [1_100, 1_200, 1_300, 1_200]);
    // Act
    const [v] = versusPeers(rows, 'parl-swarm');
    // Assess
    expect(v?.wallRatioOfMeans.low).toBeLessThan(1);
    expect(v?.wallRatioOfMeans.high).toBeGreaterThan(1);
    expect(v?.verdict).toBe('not told apart');
    expect(v?.pairedP).toBeGreaterThan(0.5);
  });

  it('pairs by rep, leaving out a rep one of the two lacks, and gives the ratios of medians', () => {
    // Prepare: langgraph has no rep 3; the rows come in any order
    const rows = [
      ...runs([1_200, 1_100], [1_000, 1_000]),
      { framework: 'parl-swarm', rep: 3, wallClockMs: 9_000, overhead: 9 },
      { framework: 'promise-all', rep: 2, wallClockMs: 1_000, overhead: 1 },
    ].reverse();
    // Act
    const versus = versusPeers(rows, 'parl-swarm');
    // Assess
    expect(versus.map((v) => v.framework).sort()).toEqual(['langgraph', 'promise-all']);
    const lg = versus.find((v) => v.framework === 'langgraph');
    expect(lg?.pairs).toBe(2);
    expect(lg?.meanDifferenceMs).toBe(150);
    expect(lg?.wallRatio).toBeCloseTo(1.15, 10);
    const pa = versus.find((v) => v.framework === 'promise-all');
    expect(pa?.pairs).toBe(1);
    expect(pa?.meanDifferenceMs).toBe(100);
    expect(pa?.overheadRatio).toBeCloseTo(1.1, 10);
    expect(pa?.pairedP).toBeNaN();
  });

  it('says it in one line: both ratios, the interval, the difference, the tests and the verdict', () => {
    // Prepare
    const [v] = versusPeers(runs([1_110, 1_211, 1_310, 1_209], [1_100, 1_200, 1_300, 1_200]), 'parl-swarm');
    // Act
    const line = versusLine('parl-swarm', v!);
    // Assess
    expect(line).toMatch(
      /^parl-swarm vs langgraph: wall-clock ×1\.008 in medians, ×1\.008 in means \(95 % CI 1\.00\d–1\.00\d, 4 paired reps\), \+10 ms a run; paired t p = .+: slower; over the bound ×1\.00/,
    );
  });
});
