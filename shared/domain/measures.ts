import type {
  JobMetrics,
  JobMode,
  PriceTable,
  ProviderMetrics,
  RewardWeights,
  StepRecord,
  TokenTotals,
} from './types';

/**
 * The measures of ARCHITECTURE.md, exactly. A job runs in stages t = 1..T; in stage t the
 * orchestrator takes S_main(t) steps and sub-agent i takes S_sub,i(t) steps.
 *
 *   CriticalSteps   = Σ_t ( S_main(t) + max_i S_sub,i(t) )   (max over no sub-agents = 0)
 *   SequentialSteps = Σ_t ( S_main(t) + Σ_i S_sub,i(t) )
 *
 * The same sums over step durations give CriticalPathMs and SequentialMs.
 */

/** Default λ of rPARL: (λ1, λ2, λ3) = (0.4, 0.35, 0.25). */
export const DEFAULT_WEIGHTS: RewardWeights = { parallel: 0.4, finish: 0.35, perf: 0.25 };

/** kimi-k2.5 prices per million tokens, USD. */
export const KIMI_K25_PRICES: PriceTable = {
  inputPerMillion: 0.6,
  cachedInputPerMillion: 0.1,
  outputPerMillion: 3.0,
};

/** Per-stage totals: the orchestrator's, and each sub-agent's. */
export interface StageTotals {
  stage: number;
  mainSteps: number;
  mainMs: number;
  subSteps: Map<string, number>;
  subMs: Map<string, number>;
}

/** Groups step records by stage and agent. Stages come back in ascending order. */
export function stageTotals(steps: readonly StepRecord[]): StageTotals[] {
  const byStage = new Map<number, StageTotals>();
  for (const s of steps) {
    let t = byStage.get(s.stage);
    if (!t) {
      t = { stage: s.stage, mainSteps: 0, mainMs: 0, subSteps: new Map(), subMs: new Map() };
      byStage.set(s.stage, t);
    }
    if (s.role === 'main') {
      t.mainSteps += 1;
      t.mainMs += s.durationMs;
    } else {
      t.subSteps.set(s.agentId, (t.subSteps.get(s.agentId) ?? 0) + 1);
      t.subMs.set(s.agentId, (t.subMs.get(s.agentId) ?? 0) + s.durationMs);
    }
  }
  return [...byStage.values()].sort((a, b) => a.stage - b.stage);
}

const maxOf = (values: Iterable<number>): number => {
  let m = 0;
  for (const v of values) if (v > m) m = v;
  return m;
};
const sumOf = (values: Iterable<number>): number => {
  let s = 0;
  for (const v of values) s += v;
  return s;
};

/** CriticalSteps = Σ_t ( S_main(t) + max_i S_sub,i(t) ). */
export function criticalSteps(steps: readonly StepRecord[]): number {
  return sumOf(stageTotals(steps).map((t) => t.mainSteps + maxOf(t.subSteps.values())));
}

/** SequentialSteps = Σ_t ( S_main(t) + Σ_i S_sub,i(t) ). */
export function sequentialSteps(steps: readonly StepRecord[]): number {
  return sumOf(stageTotals(steps).map((t) => t.mainSteps + sumOf(t.subSteps.values())));
}

/** CriticalPathMs: the CriticalSteps sum over step durations. */
export function criticalPathMs(steps: readonly StepRecord[]): number {
  return sumOf(stageTotals(steps).map((t) => t.mainMs + maxOf(t.subMs.values())));
}

/** SequentialMs: the SequentialSteps sum over step durations. */
export function sequentialMs(steps: readonly StepRecord[]): number {
  return sumOf(stageTotals(steps).map((t) => t.mainMs + sumOf(t.subMs.values())));
}

/** SequentialSteps / CriticalSteps; 1 for a job without steps. */
export function stepSpeedup(sequential: number, critical: number): number {
  return critical === 0 ? 1 : sequential / critical;
}

/** WallClockMs / CriticalPathMs (ideal 1.0); 0 when there is no critical path to compare with. */
export function overhead(wallClockMs: number, criticalPath: number): number {
  return criticalPath === 0 ? 0 : wallClockMs / criticalPath;
}

/** r_parallel = 1 − CriticalSteps / SequentialSteps (0 for serial collapse and for no steps). */
export function rParallel(critical: number, sequential: number): number {
  return sequential === 0 ? 0 : 1 - critical / sequential;
}

/** r_finish = completed / spawned (0 when nothing was spawned). */
export function rFinish(spawned: number, completed: number): number {
  return spawned === 0 ? 0 : Math.min(completed, spawned) / spawned;
}

/** r_perf = correct / scored, or null when nothing carries ground truth. */
export function rPerf(correct: number, scored: number): number | null {
  return scored === 0 ? null : correct / scored;
}

/** rPARL = λ1·r_parallel + λ2·r_finish + λ3·r_perf; null when the job is unscored. */
export function reward(
  parts: { rParallel: number; rFinish: number; rPerf: number | null },
  weights: RewardWeights = DEFAULT_WEIGHTS,
): number | null {
  if (parts.rPerf === null) return null;
  return weights.parallel * parts.rParallel + weights.finish * parts.rFinish + weights.perf * parts.rPerf;
}

/**
 * Anneals λ1 and λ2 linearly toward 0 over `annealJobs` jobs of one policy (as in the Kimi report);
 * λ3 stays. `annealJobs` of 0 or less turns annealing off.
 */
export function annealWeights(base: RewardWeights, jobsSeen: number, annealJobs: number): RewardWeights {
  if (annealJobs <= 0) return { ...base };
  const f = Math.max(0, 1 - jobsSeen / annealJobs);
  return { parallel: base.parallel * f, finish: base.finish * f, perf: base.perf };
}

/** Token totals over steps. */
export function tokenTotals(steps: readonly StepRecord[]): TokenTotals {
  const t: TokenTotals = { input: 0, output: 0, cachedInput: 0 };
  for (const s of steps) {
    t.input += s.inputTokens;
    t.output += s.outputTokens;
    t.cachedInput += s.cachedInputTokens;
  }
  return t;
}

/**
 * Cost in USD: uncached input at the input price, cached input at the cached price, output at
 * the output price. `tokens.input` includes the cached tokens.
 */
export function costUsd(tokens: TokenTotals, prices: PriceTable = KIMI_K25_PRICES): number {
  const uncached = Math.max(0, tokens.input - tokens.cachedInput);
  return (
    (uncached * prices.inputPerMillion +
      tokens.cachedInput * prices.cachedInputPerMillion +
      tokens.output * prices.outputPerMillion) /
    1_000_000
  );
}

/**
 * Step order as their keys store them: stage, role, agent, step (ids in code-unit order, as
 * DynamoDB orders keys).
 */
export function compareSteps(a: StepRecord, b: StepRecord): number {
  const text = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return a.stage - b.stage || text(a.role, b.role) || text(a.agentId, b.agentId) || a.step - b.step;
}

/** What a job's measures are computed from, besides its steps. */
export interface MetricInputs {
  steps: readonly StepRecord[];
  spawned: number;
  completed: number;
  /** Subtasks answered correctly, and subtasks that carry ground truth. */
  correct: number;
  scored: number;
  acceptedAt: string;
  finishedAt: string;
  weights?: RewardWeights;
  prices?: PriceTable;
  /** For the serial-collapse flag: the job's mode and subtask count (no flag without them). */
  mode?: JobMode;
  subtasks?: number;
  /** r_finish below this flags spurious parallelism (default {@link SPURIOUS_FINISH_THRESHOLD}). */
  spuriousFinishThreshold?: number;
}

/** Default r_finish below which a job with several sub-agents is flagged as spurious parallelism. */
export const SPURIOUS_FINISH_THRESHOLD = 0.8;

/** Per stage: the orchestrator's steps, the longest sub-agent's, all sub-agent steps, and the sub-agents. */
export function stageBreakdown(steps: readonly StepRecord[]): NonNullable<JobMetrics['stages']> {
  return stageTotals(steps).map((t) => ({
    stage: t.stage,
    mainSteps: t.mainSteps,
    maxSubSteps: maxOf(t.subSteps.values()),
    subSteps: sumOf(t.subSteps.values()),
    agents: t.subSteps.size,
  }));
}

/**
 * The two failure modes of PARL the Kimi report names: serial collapse (a `parl` job with more than
 * one subtask ran one sub-agent) and spurious parallelism (several sub-agents, r_finish below the
 * threshold).
 */
export function jobFlags(input: {
  mode?: JobMode;
  subtasks?: number;
  spawned: number;
  rFinish: number;
  spuriousFinishThreshold?: number;
}): NonNullable<JobMetrics['flags']> {
  return {
    serialCollapse: input.mode === 'parl' && (input.subtasks ?? 0) > 1 && input.spawned === 1,
    spuriousParallelism:
      input.spawned > 1 && input.rFinish < (input.spuriousFinishThreshold ?? SPURIOUS_FINISH_THRESHOLD),
  };
}

/**
 * The measures of a job finished at `finishedAt` rather than when they were computed: its
 * wall-clock runs from the accepted request to the stored result (the scoring and the settlement
 * before that write included), and the overhead with it.
 */
export function finishedAtTime(metrics: JobMetrics, acceptedAt: string, finishedAt: string): JobMetrics {
  const wall = Math.max(0, Date.parse(finishedAt) - Date.parse(acceptedAt));
  return { ...metrics, wallClockMs: wall, overhead: overhead(wall, metrics.criticalPathMs) };
}

/** Why a job whose model calls all failed carries no reward, speedup or flags. */
export const NO_MODEL_ANSWER = 'no model call succeeded';

/**
 * Computes every measure of a job from its step records and counts. A job whose model calls all
 * failed is not scored: rPerf and reward are null, no flags, and `unscoredReason` says why.
 */
export function computeJobMetrics(input: MetricInputs): JobMetrics {
  const weights = input.weights ?? DEFAULT_WEIGHTS;
  const crit = criticalSteps(input.steps);
  const seq = sequentialSteps(input.steps);
  const critMs = criticalPathMs(input.steps);
  const wall = Math.max(0, Date.parse(input.finishedAt) - Date.parse(input.acceptedAt));
  const parts = {
    rParallel: rParallel(crit, seq),
    rFinish: rFinish(input.spawned, input.completed),
    rPerf: rPerf(input.correct, input.scored),
  };
  const tokens = tokenTotals(input.steps);
  // Model calls that all failed leave nothing to score: no reward, no flags.
  const answered = input.steps.length === 0 || input.steps.some((s) => s.status === 'SUCCEEDED');
  return {
    criticalSteps: crit,
    sequentialSteps: seq,
    stepSpeedup: stepSpeedup(seq, crit),
    criticalPathMs: critMs,
    sequentialMs: sequentialMs(input.steps),
    wallClockMs: wall,
    overhead: overhead(wall, critMs),
    ...parts,
    ...(answered ? {} : { rPerf: null }),
    reward: answered ? reward(parts, weights) : null,
    weights,
    subagents: { spawned: input.spawned, completed: input.completed },
    tokens,
    costUsd: costUsd(tokens, input.prices),
    ...(answered
      ? { flags: jobFlags({ ...input, rFinish: parts.rFinish }) }
      : { unscoredReason: NO_MODEL_ANSWER }),
    stages: stageBreakdown(input.steps),
  };
}

/**
 * The provider summary of a job: its provider, model and limits, and what its steps met there —
 * provider calls (a step without `calls` made one), retries beyond one call a step, 429s, waits.
 */
export function providerMetrics(
  info: Omit<ProviderMetrics, 'calls' | 'retries' | 'rateLimited' | 'waitedMs' | 'limiterMs'>,
  steps: readonly StepRecord[],
): ProviderMetrics {
  const calls = sumOf(steps.map((s) => s.calls ?? 1));
  return {
    ...info,
    calls,
    retries: calls - steps.length,
    rateLimited: sumOf(steps.map((s) => s.rateLimited ?? 0)),
    waitedMs: sumOf(steps.map((s) => s.waitedMs ?? 0)),
    limiterMs: sumOf(steps.map((s) => s.limiterMs ?? 0)),
  };
}
