/**
 * Core types of PARL Swarm: job requests, plans, step records and metrics.
 * Pure data; no AWS imports.
 */

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
  /** Time spent waiting for the shared limiter and between retries. */
  waitedMs?: number;
}

/** A subtask as a user may give it: a plain prompt, or with an id and a ground-truth answer. */
export interface Subtask {
  id: string;
  prompt: string;
  /** Ground truth; when present r_perf is accuracy against it. */
  expected?: string;
}

/** The workload decides the sub-agents' tools and how answers are parsed and scored. */
export type WorkloadName = 'generic' | 'bma-compliance';

/** A validated job request (what `--input` and `POST /v1/jobs` carry). */
export interface JobRequest {
  task: string;
  taskClass?: string;
  workload: WorkloadName;
  subtasks?: Subtask[];
  mode: JobMode;
  maxSubagents?: number;
  maxOutputTokens?: number;
  /** Data the workload's tools read (for `bma-compliance`: `installations`). */
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
  costUsd: number;
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
}
