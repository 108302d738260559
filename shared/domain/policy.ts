/**
 * The orchestrator's fan-out policy: a bandit over discrete arms per (tenant, task class) that learns
 * from each finished job's rPARL. Pure: the store persists {@link PolicyState}, the plan step calls
 * {@link chooseArm}, the aggregate step calls {@link applyReward}.
 *
 * An arm is a fan-out: `width` sub-agents at once (the Map's MaxConcurrencyPath) and `itemsPerAgent`
 * subtasks per sub-agent (batching). An arm without `itemsPerAgent` spawns `width` sub-agents that
 * share the subtasks evenly (ceil(N / width) each), so all of them run at once. CriticalSteps, and so
 * r_parallel, depend on the batching, not on the width; the width decides how hard the job leans on
 * the provider's limits (429s, exhausted retries, failed sub-agents: r_finish).
 */
import type { JobRequest, WorkloadName } from './types';

/** How a job uses the policy: not at all (`off`, the default), Thompson sampling (`learn`), best mean (`greedy`). */
export type PolicyMode = 'off' | 'learn' | 'greedy';

export const POLICY_MODES: readonly PolicyMode[] = ['off', 'learn', 'greedy'];

/** One choice of the bandit. */
export interface Arm {
  id: string;
  width: number;
  /** Subtasks per sub-agent; unset: ceil(subtasks / width), every sub-agent at once. */
  itemsPerAgent?: number;
}

/** What an arm has earned so far (sum and sum of squares give mean and spread). */
export interface ArmStats {
  n: number;
  sum: number;
  sumSq: number;
}

/** The stored policy of one (tenant, task class). */
export interface PolicyState {
  tenantId: string;
  taskClass: string;
  /** Bumped by every write; writes are conditional on it (no lost update). */
  version: number;
  /** Scored jobs the policy learned from (drives reward annealing). */
  jobs: number;
  arms: Arm[];
  stats: Record<string, ArmStats>;
  /** r_perf of the latest scored jobs, oldest first (TOGGLE reads it). */
  recentPerf: number[];
  /** Jobs already applied, newest last: a retried aggregate does not count twice. */
  appliedJobs: string[];
  updatedAt?: string;
}

/** The default arms: widths 1, 2, 4, … 64, each sub-agent taking an even share of the subtasks. */
export const DEFAULT_ARM_WIDTHS = [1, 2, 4, 8, 16, 32, 64] as const;

/** How many r_perf values a policy keeps for TOGGLE. */
export const RECENT_PERF_KEEP = 20;
/** How many applied job ids a policy keeps to drop duplicate updates. */
export const APPLIED_JOBS_KEEP = 200;

/** The id of an arm: `w8` (even share) or `w4k2` (4 at once, 2 subtasks each). */
export const armId = (width: number, itemsPerAgent?: number): string =>
  itemsPerAgent === undefined ? `w${width}` : `w${width}k${itemsPerAgent}`;

/** The default arm set. */
export function defaultArms(widths: readonly number[] = DEFAULT_ARM_WIDTHS): Arm[] {
  return widths.map((width) => ({ id: armId(width), width }));
}

/** A policy that has seen nothing yet. */
export function emptyPolicy(tenantId: string, taskClass: string, arms: Arm[] = defaultArms()): PolicyState {
  return { tenantId, taskClass, version: 0, jobs: 0, arms, stats: {}, recentPerf: [], appliedJobs: [] };
}

/** The task class of a request: its `taskClass`, else its workload. */
export function taskClassOf(request: Pick<JobRequest, 'taskClass' | 'workload'>): string {
  return request.taskClass ?? (request.workload satisfies WorkloadName);
}

/** What an arm means for a job of `subtasks` subtasks. */
export interface ResolvedArm {
  width: number;
  itemsPerAgent: number;
  agents: number;
}

/** Resolves an arm (or pinned values) for a job: how many agents, how many items each, how many at once. */
export function resolveFanOut(subtasks: number, width: number, itemsPerAgent?: number): ResolvedArm {
  const n = Math.max(1, subtasks);
  const k = Math.max(1, Math.min(n, itemsPerAgent ?? Math.ceil(n / Math.max(1, width))));
  const agents = Math.ceil(n / k);
  return { width: Math.max(1, Math.min(width, agents)), itemsPerAgent: k, agents };
}

/**
 * The arms worth trying for a job of `subtasks` subtasks: an arm wider than the job has subtasks is
 * the same as the arm of width `subtasks`, so only the arms up to the first that covers every subtask
 * stay.
 */
export function candidateArms(arms: readonly Arm[], subtasks: number): Arm[] {
  const sorted = [...arms].sort(
    (a, b) => a.width - b.width || (a.itemsPerAgent ?? 0) - (b.itemsPerAgent ?? 0),
  );
  const out = sorted.filter((a) => a.width <= subtasks || a.itemsPerAgent !== undefined);
  const firstWide = sorted.find((a) => a.width > subtasks && a.itemsPerAgent === undefined);
  if (firstWide && !out.some((a) => a.itemsPerAgent === undefined && a.width === subtasks))
    out.push(firstWide);
  return out.length > 0 ? out : sorted.slice(0, 1);
}

/** Mean reward of an arm, or undefined when untried. */
export const meanOf = (s: ArmStats | undefined): number | undefined =>
  s && s.n > 0 ? s.sum / s.n : undefined;

/** Sample standard deviation of an arm's rewards, or undefined below two rewards. */
export const spreadOf = (s: ArmStats | undefined): number | undefined => {
  if (!s || s.n < 2) return undefined;
  const mean = s.sum / s.n;
  return Math.sqrt(Math.max(0, (s.sumSq - s.n * mean * mean) / (s.n - 1)));
};

/** A seeded PRNG (mulberry32, the demo data's): the same seed gives the same choices. */
export { seededRandom } from './random';

/** FNV-1a over the parts: a stable 32-bit seed. */
export function seedOf(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const gaussian = (random: () => number): number => {
  const u = Math.max(Number.EPSILON, random());
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
};

/** Settings of Thompson sampling. */
export interface BanditSettings {
  /** Spread assumed for an arm with fewer than two rewards, and the floor of any arm's spread. */
  priorSpread: number;
  minSpread: number;
}

export const DEFAULT_BANDIT: BanditSettings = { priorSpread: 0.15, minSpread: 0.03 };

/** Why an arm was chosen. */
export type ChoiceReason = 'untried' | 'sampled' | 'greedy' | 'default';

/**
 * Chooses an arm for a job of `subtasks` subtasks.
 *
 * - `learn`: an untried candidate first (in seeded random order), else Thompson sampling with a
 *   Gaussian posterior per arm: θ ~ N(mean, spread² / n), the arm with the highest θ.
 * - `greedy`: the tried candidate with the highest mean; the widest candidate when none was tried.
 */
export function chooseArm(
  state: PolicyState,
  subtasks: number,
  mode: Exclude<PolicyMode, 'off'>,
  random: () => number,
  settings: BanditSettings = DEFAULT_BANDIT,
): { arm: Arm; reason: ChoiceReason } {
  const candidates = candidateArms(state.arms, subtasks);
  const tried = candidates.filter((a) => (state.stats[a.id]?.n ?? 0) > 0);
  if (mode === 'greedy') {
    if (tried.length === 0) return { arm: candidates[candidates.length - 1]!, reason: 'default' };
    const best = tried.reduce((b, a) => (meanOf(state.stats[a.id])! > meanOf(state.stats[b.id])! ? a : b));
    return { arm: best, reason: 'greedy' };
  }
  const untried = candidates.filter((a) => (state.stats[a.id]?.n ?? 0) === 0);
  if (untried.length > 0) return { arm: untried[Math.floor(random() * untried.length)]!, reason: 'untried' };
  let best = candidates[0]!;
  let bestTheta = Number.NEGATIVE_INFINITY;
  for (const arm of candidates) {
    const s = state.stats[arm.id]!;
    const spread = Math.max(settings.minSpread, spreadOf(s) ?? settings.priorSpread);
    const theta = meanOf(s)! + (spread / Math.sqrt(s.n)) * gaussian(random);
    if (theta > bestTheta) {
      bestTheta = theta;
      best = arm;
    }
  }
  return { arm: best, reason: 'sampled' };
}

/** One finished, scored job: what it did and what it earned. */
export interface PolicyObservation {
  jobId: string;
  /** Subtasks of the job (an even-share arm means different batching for different sizes). */
  subtasks: number;
  width: number;
  itemsPerAgent?: number;
  /** The arm the policy chose; a job with pinned values teaches the arm matching what it ran. */
  armId?: string;
  reward: number;
  rPerf: number;
}

/** The arm a job's actual fan-out belongs to: the chosen one, else an existing or new arm matching it. */
export function armFor(state: PolicyState, obs: PolicyObservation): Arm {
  const chosen = obs.armId ? state.arms.find((a) => a.id === obs.armId) : undefined;
  if (chosen) return chosen;
  const matching = candidateArms(state.arms, obs.subtasks).find((a) => {
    const r = resolveFanOut(obs.subtasks, a.width, a.itemsPerAgent);
    return r.width === obs.width && r.itemsPerAgent === (obs.itemsPerAgent ?? r.itemsPerAgent);
  });
  if (matching) return matching;
  const id = armId(obs.width, obs.itemsPerAgent);
  return (
    state.arms.find((a) => a.id === id) ?? {
      id,
      width: obs.width,
      ...(obs.itemsPerAgent === undefined ? {} : { itemsPerAgent: obs.itemsPerAgent }),
    }
  );
}

/**
 * Learns from one job: adds its reward to its arm, its r_perf to the recent window, counts the job.
 * A job already applied changes nothing (the same state comes back).
 */
export function applyReward(state: PolicyState, obs: PolicyObservation, now = new Date()): PolicyState {
  if (state.appliedJobs.includes(obs.jobId)) return state;
  const arm = armFor(state, obs);
  const prev = state.stats[arm.id] ?? { n: 0, sum: 0, sumSq: 0 };
  return {
    ...state,
    version: state.version + 1,
    jobs: state.jobs + 1,
    arms: state.arms.some((a) => a.id === arm.id) ? state.arms : [...state.arms, arm],
    stats: {
      ...state.stats,
      [arm.id]: { n: prev.n + 1, sum: prev.sum + obs.reward, sumSq: prev.sumSq + obs.reward * obs.reward },
    },
    recentPerf: [...state.recentPerf, obs.rPerf].slice(-RECENT_PERF_KEEP),
    appliedJobs: [...state.appliedJobs, obs.jobId].slice(-APPLIED_JOBS_KEEP),
    updatedAt: now.toISOString(),
  };
}

/** A policy as `parl policy show` and `GET /v1/policy` report it. */
export interface PolicyView {
  taskClass: string;
  jobs: number;
  version: number;
  updatedAt?: string;
  bestArm?: string;
  arms: { id: string; width: number; itemsPerAgent?: number; count: number; meanReward: number | null }[];
  recentPerf: number[];
}

/** The view of a stored policy: arms with their counts and mean rewards, the best one named. */
export function viewPolicy(state: PolicyState): PolicyView {
  const arms = state.arms.map((a) => {
    const s = state.stats[a.id];
    return {
      id: a.id,
      width: a.width,
      ...(a.itemsPerAgent === undefined ? {} : { itemsPerAgent: a.itemsPerAgent }),
      count: s?.n ?? 0,
      meanReward: meanOf(s) ?? null,
    };
  });
  const tried = arms.filter((a) => a.meanReward !== null);
  const best = tried.reduce<(typeof arms)[number] | undefined>(
    (b, a) => (b === undefined || (a.meanReward ?? 0) > (b.meanReward ?? 0) ? a : b),
    undefined,
  );
  return {
    taskClass: state.taskClass,
    jobs: state.jobs,
    version: state.version,
    ...(state.updatedAt ? { updatedAt: state.updatedAt } : {}),
    ...(best ? { bestArm: best.id } : {}),
    arms,
    recentPerf: state.recentPerf,
  };
}
