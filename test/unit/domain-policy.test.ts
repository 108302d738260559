/**
 * The bandit's bookkeeping a tenant sees in `parl policy show` and in which fan-outs get tried: arm
 * ids, candidate arms with pinned items per agent, means and spreads, and the seed of its choices.
 */
import { describe, expect, it } from 'vitest';
import { type Arm, armId, candidateArms, meanOf, seedOf, spreadOf } from '#shared/domain/policy';

const arm = (width: number, itemsPerAgent?: number): Arm => ({
  id: armId(width, itemsPerAgent),
  width,
  ...(itemsPerAgent === undefined ? {} : { itemsPerAgent }),
});

describe('arms', () => {
  it('names an even-share arm by its width and a pinned one by width and items', () => {
    expect(armId(8)).toBe('w8');
    expect(armId(4, 2)).toBe('w4k2');
  });

  it('orders candidates by width, then by items per agent, an even share first', () => {
    const ids = (arms: Arm[], subtasks: number) => candidateArms(arms, subtasks).map((a) => a.id);
    expect(ids([arm(2, 3), arm(2, 1), arm(2)], 6)).toEqual(['w2', 'w2k1', 'w2k3']);
    expect(ids([arm(2, 1), arm(2), arm(2, 3)], 6)).toEqual(['w2', 'w2k1', 'w2k3']);
  });

  it('keeps pinned arms wider than the job, and the first even-share arm that covers it', () => {
    // 3 subtasks: w4 is the same as w3 for this job; w8k1 still means 3 sub-agents of one subtask.
    // The covering even-share arm comes last.
    expect(candidateArms([arm(8, 1), arm(4), arm(2), arm(8)], 3).map((a) => a.id)).toEqual([
      'w2',
      'w8k1',
      'w4',
    ]);
    expect(candidateArms([arm(4), arm(3)], 3).map((a) => a.id)).toEqual(['w3']);
    expect(candidateArms([], 3)).toEqual([]);
  });
});

describe('arm statistics', () => {
  it('has no mean for an untried arm, and the average of its rewards otherwise', () => {
    expect(meanOf(undefined)).toBeUndefined();
    expect(meanOf({ n: 0, sum: 0, sumSq: 0 })).toBeUndefined();
    expect(meanOf({ n: 4, sum: 2, sumSq: 1.5 })).toBe(0.5);
  });

  it('has a spread from two rewards on: the sample standard deviation', () => {
    expect(spreadOf({ n: 1, sum: 0.5, sumSq: 0.25 })).toBeUndefined();
    // Rewards 0.2 and 0.6: mean 0.4, sample variance ((0.2)² + (0.2)²) / 1 = 0.08.
    expect(spreadOf({ n: 2, sum: 0.8, sumSq: 0.04 + 0.36 })).toBeCloseTo(Math.sqrt(0.08), 12);
    expect(spreadOf({ n: 3, sum: 1.5, sumSq: 0.75 })).toBe(0);
  });
});

describe('seedOf', () => {
  it('is FNV-1a (32 bits) over the parts joined by "|"', () => {
    // Reference values of FNV-1a 32, worked out apart from this code.
    expect(seedOf()).toBe(2166136261);
    expect(seedOf('a')).toBe(3826002220);
    expect(seedOf('acme', 'bma-compliance', 3, 1)).toBe(4269164475);
  });

  it('keeps the parts apart', () => {
    expect(seedOf('ab', 'c')).toBe(3075778867);
    expect(seedOf('a', 'bc')).toBe(3093947375);
  });
});
