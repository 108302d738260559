/**
 * TOGGLE: a sub-agent's output-token budget B drops to `factor`·B while the task class's recent
 * r_perf is high and stable, and returns to B as soon as it drops. Pure; the plan step applies it
 * with the r_perf window its policy keeps.
 */

/** When the budget drops, and by how much. */
export interface ToggleSettings {
  /** The budget while quality is stable, as a share of B (default 0.7). */
  factor: number;
  /** How many latest r_perf values must qualify (default 3). */
  window: number;
  /** Each of them at least this (default 0.9). */
  minPerf: number;
  /** Their spread (max − min) at most this (default 0.05). */
  maxSpread: number;
}

export const DEFAULT_TOGGLE: ToggleSettings = { factor: 0.7, window: 3, minPerf: 0.9, maxSpread: 0.05 };

/** The budget TOGGLE picks, and why. */
export interface ToggleDecision {
  fullBudget: number;
  budget: number;
  /** True when the budget was lowered. */
  reduced: boolean;
  reason: string;
}

/**
 * Picks the output-token budget from the full budget B and the recent r_perf (oldest first).
 *
 * @example
 * toggleBudget(1000, [0.97, 0.96, 0.98]).budget // 700
 * toggleBudget(1000, [0.97, 0.96, 0.80]).budget // 1000: quality dropped
 */
export function toggleBudget(
  fullBudget: number,
  recentPerf: readonly number[],
  settings: ToggleSettings = DEFAULT_TOGGLE,
): ToggleDecision {
  const last = recentPerf.slice(-settings.window);
  if (last.length < settings.window) {
    return {
      fullBudget,
      budget: fullBudget,
      reduced: false,
      reason: `${last.length} of ${settings.window} scored jobs seen`,
    };
  }
  const min = Math.min(...last);
  const spread = Math.max(...last) - min;
  if (min < settings.minPerf) {
    return {
      fullBudget,
      budget: fullBudget,
      reduced: false,
      reason: `r_perf ${min.toFixed(3)} < ${settings.minPerf}`,
    };
  }
  if (spread > settings.maxSpread) {
    return {
      fullBudget,
      budget: fullBudget,
      reduced: false,
      reason: `r_perf spread ${spread.toFixed(3)} > ${settings.maxSpread}`,
    };
  }
  return {
    fullBudget,
    budget: Math.max(1, Math.round(fullBudget * settings.factor)),
    reduced: true,
    reason: `last ${settings.window} r_perf ≥ ${settings.minPerf}, spread ≤ ${settings.maxSpread}`,
  };
}
