/**
 * The orchestrator's learning: the plan step asks the policy of the job's task class for a fan-out
 * and TOGGLE for a budget; the aggregate step teaches the policy the job's rPARL.
 */
import type { AppConfig } from '#shared/config';
import { annealWeights } from '#shared/domain/measures';
import {
  applyReward,
  chooseArm,
  emptyPolicy,
  type PolicyMode,
  type PolicyState,
  type PolicyView,
  resolveFanOut,
  seededRandom,
  seedOf,
  taskClassOf,
  viewPolicy,
} from '#shared/domain/policy';
import { toggleBudget } from '#shared/domain/toggle';
import type { JobRequest, RewardWeights } from '#shared/domain/types';
import type { PlanBudget, PlanPolicy } from '#shared/ports/job-store';
import type { PolicyStore } from '#shared/ports/policy-store';

/** B when neither the request nor the config says (as PARL_MAX_OUTPUT_TOKENS's default). */
export const DEFAULT_OUTPUT_BUDGET = 1000;

/** What choosing a fan-out needs. */
export interface FanOutDeps {
  policies?: PolicyStore;
  config: Pick<AppConfig, 'defaultMaxSubagents'> &
    Partial<Pick<AppConfig, 'maxOutputTokens' | 'policy' | 'toggle'>>;
}

/** The fan-out and budget of a job's stage 1. */
export interface FanOutDecision {
  width: number;
  itemsPerAgent: number;
  policy?: PlanPolicy;
  budget: PlanBudget;
}

type FanOutRequest = Pick<
  JobRequest,
  | 'mode'
  | 'policy'
  | 'toggle'
  | 'taskClass'
  | 'workload'
  | 'maxSubagents'
  | 'itemsPerAgent'
  | 'maxOutputTokens'
>;

/** The policy mode a request asks for (`off` unless it says, and always `off` for sequential jobs). */
export const policyModeOf = (request: Pick<JobRequest, 'mode' | 'policy'>): PolicyMode =>
  request.mode === 'sequential' ? 'off' : (request.policy ?? 'off');

/**
 * Chooses how a job fans out.
 *
 * 1. policy `off` (the default): the request's values, else one subtask per sub-agent and the
 *    default width; the full budget
 * 2. `learn` / `greedy`: read the task class's policy, choose an arm with a RNG seeded by (tenant,
 *    task class, policy version, configured seed), let the request's pinned values win
 * 3. TOGGLE (on by default with a policy): lower the budget while the class's r_perf is high and
 *    stable; a request's `maxOutputTokens` pins the budget
 *
 * `maxWidth` is the tenant's cap on sub-agents at once: no default and no arm goes above it (a
 * request's `maxSubagents` was already checked against it when the job was accepted).
 */
export async function decideFanOut(
  deps: FanOutDeps,
  tenantId: string,
  request: FanOutRequest,
  subtasks: number,
  maxWidth = Number.POSITIVE_INFINITY,
): Promise<FanOutDecision> {
  const mode = policyModeOf(request);
  const fullBudget = request.maxOutputTokens ?? deps.config.maxOutputTokens ?? DEFAULT_OUTPUT_BUDGET;
  const full: PlanBudget = { fullBudget, budget: fullBudget, reduced: false, reason: 'TOGGLE off' };
  if (request.mode === 'sequential') return { width: 1, itemsPerAgent: Math.max(1, subtasks), budget: full };
  if (mode === 'off' || !deps.policies) {
    const fanOut = resolveFanOut(
      subtasks,
      request.maxSubagents ?? Math.min(deps.config.defaultMaxSubagents, maxWidth),
      request.itemsPerAgent ?? 1,
    );
    return { width: fanOut.width, itemsPerAgent: fanOut.itemsPerAgent, budget: full };
  }
  const taskClass = taskClassOf(request);
  const state = (await deps.policies.get(tenantId, taskClass)) ?? emptyPolicy(tenantId, taskClass);
  const random = seededRandom(seedOf(tenantId, taskClass, state.version, deps.config.policy?.seed ?? 1));
  const within = state.arms.filter((a) => a.width <= maxWidth);
  const { arm, reason } = chooseArm(
    within.length > 0 ? { ...state, arms: within } : state,
    subtasks,
    mode,
    random,
  );
  const chosen = resolveFanOut(subtasks, Math.min(arm.width, maxWidth), arm.itemsPerAgent);
  const pinned: PlanPolicy['pinned'] = [];
  if (request.maxSubagents !== undefined) pinned.push('width');
  if (request.itemsPerAgent !== undefined) pinned.push('itemsPerAgent');
  const fanOut = resolveFanOut(
    subtasks,
    request.maxSubagents ?? chosen.width,
    request.itemsPerAgent ?? chosen.itemsPerAgent,
  );
  let budget: PlanBudget;
  if (request.maxOutputTokens !== undefined) budget = { ...full, reason: 'pinned by the request' };
  else if (request.toggle === false) budget = { ...full, reason: 'TOGGLE off for this job' };
  else budget = toggleBudget(fullBudget, state.recentPerf, deps.config.toggle);
  return {
    width: fanOut.width,
    itemsPerAgent: fanOut.itemsPerAgent,
    policy: {
      taskClass,
      mode,
      armId: arm.id,
      reason,
      policyVersion: state.version,
      width: fanOut.width,
      itemsPerAgent: fanOut.itemsPerAgent,
      pinned,
    },
    budget,
  };
}

/** What teaching a policy needs. */
export interface LearnDeps {
  policies: PolicyStore;
}

/**
 * Teaches the job's policy its reward: the chosen arm when the job ran it, else the arm matching what
 * it ran (pinned jobs teach too). Idempotent per job. Returns the updated policy.
 */
export function learnFromJob(
  deps: LearnDeps,
  input: {
    tenantId: string;
    jobId: string;
    policy: PlanPolicy;
    subtasks: number;
    reward: number;
    rPerf: number;
  },
): Promise<PolicyState> {
  const { policy } = input;
  const ranChosen = policy.pinned.length === 0;
  return deps.policies.update(
    input.tenantId,
    policy.taskClass,
    () => emptyPolicy(input.tenantId, policy.taskClass),
    (current) =>
      applyReward(current, {
        jobId: input.jobId,
        subtasks: input.subtasks,
        width: policy.width,
        itemsPerAgent: policy.itemsPerAgent,
        ...(ranChosen && policy.armId ? { armId: policy.armId } : {}),
        reward: input.reward,
        rPerf: input.rPerf,
      }),
  );
}

/**
 * The policies of a tenant (or the one of `taskClass`) as `parl policy show` and `GET /v1/policy`
 * report them: arms, counts, mean rewards. A task class without a policy gives an empty list.
 */
export async function getPolicies(
  deps: { policies: PolicyStore },
  tenantId: string,
  taskClass?: string,
): Promise<PolicyView[]> {
  if (taskClass !== undefined) {
    const one = await deps.policies.get(tenantId, taskClass);
    return one ? [viewPolicy(one)] : [];
  }
  const all = await deps.policies.list(tenantId);
  return all.sort((a, b) => a.taskClass.localeCompare(b.taskClass)).map(viewPolicy);
}

/**
 * The λ a job of the policy's task class is scored with: the base weights, with λ1 and λ2 annealed
 * toward 0 over `annealJobs` jobs of the policy (0 = off, the default).
 */
export async function scoringWeights(
  deps: LearnDeps,
  tenantId: string,
  taskClass: string,
  base: RewardWeights,
  annealJobs: number,
): Promise<RewardWeights> {
  if (annealJobs <= 0) return base;
  const state = await deps.policies.get(tenantId, taskClass);
  return annealWeights(base, state?.jobs ?? 0, annealJobs);
}
