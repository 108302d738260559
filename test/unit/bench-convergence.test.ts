import { describe, expect, it } from 'vitest';
import { convergenceCharts, convergenceOf } from '../../bench/report/convergence';

const run = (steps: number[]) =>
  steps.map((criticalSteps, i) => ({ iteration: i + 1, criticalSteps, reward: 1 - criticalSteps / 100 }));

describe('convergenceOf', () => {
  it('finds the first iteration from which the rolling mean stays near the final level', () => {
    // Final level: mean of the last 3 = 71/3 ≈ 23.67, ±10 % = ±2.37. Rolling means (3): …, 31.67 (it. 4),
    // 26.33 (it. 5, outside), 24.0 (it. 6, inside) and inside from there on: settled at iteration 6.
    const c = convergenceOf(run([50, 40, 30, 25, 24, 23, 24, 23, 24, 23, 24]), 3, 0.1);
    expect(c.settledAt).toBe(6);
    expect(c.finalCriticalSteps).toBeCloseTo(71 / 3, 12);
    expect(c.firstCriticalSteps).toBe(50);
    expect(c.finalReward).toBeCloseTo(1 - 71 / 300, 12);
  });

  it('says a run that is still moving at its end settled only in its last window', () => {
    const c = convergenceOf(run([50, 45, 40, 35, 30, 25, 20, 15, 10, 5]), 3, 0.1);
    expect(c.settledAt).toBe(10);
  });
});

describe('convergenceCharts', () => {
  it('renders both charts as SVG with the claimed curve', () => {
    const iterations = run([50, 30, 25, 24, 24]);
    const charts = convergenceCharts(iterations, convergenceOf(iterations, 2));
    expect(Object.keys(charts)).toEqual(['steps.svg', 'reward.svg']);
    expect(charts['steps.svg']).toMatch(/^<svg[\s\S]*mission: 50 → 30 → 22–25[\s\S]*<\/svg>$/);
  });
});
