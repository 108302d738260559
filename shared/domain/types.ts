/**
 * Core types of PARL Swarm: job requests, plans, step records and metrics.
 * Pure data; no AWS imports.
 */
import type { AwsUsage } from './aws-cost';
import type { WorkloadName } from './workloads/registry';

/** Who took a step: the orchestrator (`main`) or a sub-agent (`sub`). */
export type Role = 'main' | 'sub';

/** How a job fans out: many sub-agents at once (`parl`) or one agent doing everything (`sequential`). */
export type JobMode = 'parl' | 'sequential';

/** Terminal and non-terminal job states. */
export type JobStatus = 'ACCEPTED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export const TERMINAL_STATUSES: readonly JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/** The outcome of one model call. */
export type StepStatus = 'SUCCEEDED' | 'FAILED';

/**
 * One step: one model call (one turn) with the tool calls it requested.
 * `inputTokens` counts every prompt token, cached ones included (the OpenAI convention);
 * `cachedInputTokens` is the cached part of it.
 */
export interface StepRecord {
  stage: number;
  role: Role;
  agentId: string;
  step: number;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  status: StepStatus;
  attempt: number;
  model?: string;
  finishReason?: string;
  toolCalls?: string[];
  error?: string;
  /** Provider calls this step took, retries included (set by the retrying client). */
  calls?: number;
  /** Of those, answered 429. */
  rateLimited?: number;
  /** Time queued for the shared limiter (a slot, a rate window, a cooldown) and between retries. */
  waitedMs?: number;
  /** Time of the shared limiter's own round trips granting the calls (neither waiting nor the model). */
  limiterMs?: number;
}

/** A subtask as a user may give it: a plain prompt, or with an id and a ground-truth answer. */
export interface Subtask {
  id: string;
  prompt: string;
  /** Ground truth; when present r_perf is accuracy against it. */
  expected?: string;
}

/** The workload decides the sub-agents' tools and how answers are parsed and scored (see workloads/registry.ts). */
export type { WorkloadName };

/** A validated job request (what `--input` and `POST /v1/jobs` carry). */
export interface JobRequest {
  task: string;
  taskClass?: string;
  workload: WorkloadName;
  subtasks?: Subtask[];
  mode: JobMode;
  maxSubagents?: number;
  maxOutputTokens?: number;
  /** Subtasks per sub-agent (batching); pins what the policy would choose. */
  itemsPerAgent?: number;
  /** How the fan-out policy of the task class is used (default `off`: the request's values or the defaults). */
  policy?: 'off' | 'learn' | 'greedy';
  /** TOGGLE of the output-token budget; on by default when `policy` is `learn` or `greedy`. */
  toggle?: boolean;
  /** Stages at most (default 1): later stages re-dispatch the subtasks that got no usable answer. */
  maxStages?: number;
  /** Data the workload's tools read (the bma workload's: `installations`). */
  dataset?: Record<string, unknown[]>;
}

/** The sub-agents' share of one stage: who takes which subtasks. */
export interface AgentAssignment {
  agentId: string;
  subtaskIds: string[];
}

/** λ weights of the reward. */
export interface RewardWeights {
  parallel: number;
  finish: number;
  perf: number;
}

/** Price per million tokens, in USD. */
export interface PriceTable {
  inputPerMillion: number;
  cachedInputPerMillion: number;
  outputPerMillion: number;
}

export interface TokenTotals {
  input: number;
  output: number;
  cachedInput: number;
}

/** Every measure of ARCHITECTURE.md for one job. */
export interface JobMetrics {
  criticalSteps: number;
  sequentialSteps: number;
  stepSpeedup: number;
  criticalPathMs: number;
  sequentialMs: number;
  wallClockMs: number;
  overhead: number;
  rParallel: number;
  rFinish: number;
  /** null when the job carries no ground truth and was not graded. */
  rPerf: number | null;
  /** null when r_perf is null: unscored jobs say so and do not train the policy. */
  reward: number | null;
  weights: RewardWeights;
  subagents: { spawned: number; completed: number };
  tokens: TokenTotals;
  /** The tokens' cost at the model's prices. */
  costUsd: number;
  /** What the job used on AWS (estimated from its records, `shared/domain/aws-cost.ts`) and its price. */
  aws?: AwsUsage;
  awsCostUsd?: number;
  /** costUsd + awsCostUsd. */
  totalCostUsd?: number;
  /** Set when a fan-out policy or TOGGLE took part: what they chose (see shared/domain/policy.ts). */
  policy?: {
    taskClass: string;
    mode: 'off' | 'learn' | 'greedy';
    armId?: string;
    width: number;
    itemsPerAgent: number;
    /** Whether the job trained the policy (scored jobs only). */
    trained: boolean;
  };
  /** TOGGLE: the budget used against the full budget, and the output tokens that saves per sub-agent call. */
  toggle?: { fullBudget: number; budget: number; reduced: boolean; tokensSaved: number };
  /** Set when the job could not be scored at all (no model call succeeded): no reward, speedup or flags. */
  unscoredReason?: string;
  /** Serial collapse (could fan out, ran one sub-agent) and spurious parallelism (r_finish below the threshold). */
  flags?: { serialCollapse: boolean; spuriousParallelism: boolean };
  /** Per stage: steps of the orchestrator and of the longest sub-agent, and the sub-agents spawned. */
  stages?: { stage: number; mainSteps: number; maxSubSteps: number; subSteps: number; agents: number }[];
  /** The provider, model and limits the job ran against, and what its calls met there. */
  provider?: ProviderMetrics;
}

/** The provider part of a job's metrics. */
export interface ProviderMetrics {
  name: string;
  model: string;
  baseUrl: string;
  tier?: string;
  limits: { maxConcurrency: number; rpm: number | null; tpm: number | null; windowMs: number };
  /** Whether the shared limiter was on. */
  limiter: boolean;
  /** Provider calls (retries included), retries, 429s received, time waited (limiter and backoff). */
  calls: number;
  retries: number;
  rateLimited: number;
  waitedMs: number;
  /** The shared limiter's own round trips over the job's steps (apart from `waitedMs`). */
  limiterMs?: number;
}
