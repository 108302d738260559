/**
 * Convergence of a learning run: CriticalSteps and reward per iteration from a cold policy, the
 * iteration where it settles, and the charts, next to the mission's claimed curve.
 */
import { lineChart } from './charts';
import { mean } from './stats';

/** The mission's training curve: CriticalSteps 50 at the start, 30 by iteration 10, 22–25 by 20. */
export const CLAIMED_CRITICAL_STEPS: [number, number][] = [
  [1, 50],
  [10, 30],
  [20, 23.5],
];

export interface Iteration {
  iteration: number;
  criticalSteps: number;
  reward: number;
}

export interface Convergence {
  /** Rolling window (jobs) the settling is judged on. */
  window: number;
  /** Tolerance around the final level, as a share of it. */
  tolerance: number;
  /** Mean CriticalSteps and reward of the last `window` iterations: the level it settled at. */
  finalCriticalSteps: number;
  finalReward: number;
  /** First iteration from which every rolling mean of CriticalSteps stays within the tolerance; null if none. */
  settledAt: number | null;
  firstCriticalSteps: number;
}

const rolling = (xs: readonly number[], window: number): number[] =>
  xs.map((_, i) => mean(xs.slice(Math.max(0, i - window + 1), i + 1)));

/**
 * Where the run settles: the first iteration k such that the rolling mean of CriticalSteps over
 * `window` iterations, from k on, never leaves ±`tolerance` of the last `window` iterations' mean.
 */
export function convergenceOf(iterations: readonly Iteration[], window = 5, tolerance = 0.15): Convergence {
  const steps = iterations.map((i) => i.criticalSteps);
  const last = iterations.slice(-window);
  const finalCriticalSteps = mean(last.map((i) => i.criticalSteps));
  const roll = rolling(steps, window);
  let settled: number | null = null;
  for (let k = roll.length - 1; k >= 0; k--) {
    if (Math.abs(roll[k]! - finalCriticalSteps) > tolerance * finalCriticalSteps) break;
    settled = k;
  }
  return {
    window,
    tolerance,
    finalCriticalSteps,
    finalReward: mean(last.map((i) => i.reward)),
    settledAt: settled === null ? null : iterations[settled]!.iteration,
    firstCriticalSteps: steps[0] ?? Number.NaN,
  };
}

/** Two charts: CriticalSteps per iteration (with its rolling mean and the claim) and reward. */
export function convergenceCharts(iterations: readonly Iteration[], c: Convergence): Record<string, string> {
  const at = (ys: readonly number[]) => iterations.map((it, i) => [it.iteration, ys[i]!] as [number, number]);
  const steps = iterations.map((i) => i.criticalSteps);
  const rewards = iterations.map((i) => i.reward);
  return {
    'steps.svg': lineChart({
      title: 'CriticalSteps per iteration, cold policy',
      subtitle: `settles at iteration ${c.settledAt ?? '–'} (rolling ${c.window}, ±${c.tolerance * 100} %) at ${c.finalCriticalSteps.toFixed(1)}`,
      xName: 'iteration (job)',
      yName: 'CriticalSteps',
      series: [
        { name: 'CriticalSteps', scatter: true, points: at(steps) },
        { name: `rolling mean (${c.window})`, points: at(rolling(steps, c.window)) },
        { name: 'mission: 50 → 30 → 22–25', reference: true, points: CLAIMED_CRITICAL_STEPS },
      ],
    }),
    'reward.svg': lineChart({
      title: 'Reward (rPARL) per iteration, cold policy',
      xName: 'iteration (job)',
      yName: 'reward',
      series: [
        { name: 'reward', scatter: true, points: at(rewards) },
        { name: `rolling mean (${c.window})`, points: at(rolling(rewards, c.window)) },
      ],
    }),
  };
}
