import type { ChoiceReason, PolicyMode } from '#shared/domain/policy';
import type {
  AgentAssignment,
  JobMetrics,
  JobRequest,
  JobStatus,
  RewardWeights,
  Role,
  StepRecord,
  Subtask,
} from '#shared/domain/types';
import type { Page, PageOptions } from './paging';

/** Identifies one job of one tenant; every key leads with the tenant. */
export interface JobRef {
  tenantId: string;
  jobId: string;
}

/** What the fan-out policy decided for a job (see `#shared/use-cases/policy`). */
export interface PlanPolicy {
  taskClass: string;
  mode: PolicyMode;
  /** The arm the policy chose (learn, greedy); unset when the policy is off. */
  armId?: string;
  reason?: ChoiceReason;
  /** The policy's version the choice was made from. */
  policyVersion?: number;
  width: number;
  itemsPerAgent: number;
  /** Values the request pinned over the policy's choice. */
  pinned: ('width' | 'itemsPerAgent')[];
}

/** The sub-agents' output-token budget: the full budget B and the one TOGGLE chose. */
export interface PlanBudget {
  fullBudget: number;
  budget: number;
  reduced: boolean;
  reason: string;
}

/** What the orchestrator decided for a stage. */
export interface PlanSummary {
  stage: number;
  agents: number;
  maxConcurrency: number;
  mapMode: 'INLINE' | 'DISTRIBUTED';
  subtasks: number;
  decomposedBy: 'request' | 'orchestrator';
  /** Subtasks per sub-agent (1 unless batched). */
  itemsPerAgent?: number;
  policy?: PlanPolicy;
  budget?: PlanBudget;
  /** Sub-agents spawned in earlier stages (multi-stage jobs). */
  earlierAgents?: number;
  /** What lowered the width below the policy's or request's choice (free slots, reserved concurrency). */
  widthBoundBy?: WidthBound;
  /** When the sub-agents stop at the latest (ISO time): inside the execution's timeout, with room for Aggregate. */
  deadlineAt?: string;
}

/** What kept a Map narrower than asked: the provider key's free slots, or the sub-agent function's reserved concurrency. */
export type WidthBound = 'free-slots' | 'reserved-concurrency';

/** The stored job. `request` is kept without its subtasks and dataset (those are items of their own). */
export interface JobRecord extends JobRef {
  status: JobStatus;
  request: Omit<JobRequest, 'subtasks' | 'dataset'>;
  acceptedAt: string;
  startedAt?: string;
  finishedAt?: string;
  executionId?: string;
  /** The Idempotency-Key (or message id) the job was submitted with. */
  idempotencyKey?: string;
  /** The tenant's cap on sub-agents at once when the job was accepted; the plan stays within it. */
  maxWidth?: number;
  /** The tenant's λ annealing (jobs per policy, 0 = off) when it has its own; else the service's. */
  annealJobs?: number;
  /** The tenant's own λ of rPARL when it has them; else the service's defaults. */
  weights?: RewardWeights;
  plan?: PlanSummary;
  metrics?: JobMetrics;
  result?: JobResult;
  error?: string;
}

export interface JobResult {
  answer: string;
  summary: Record<string, number>;
  failedAgents?: { agentId: string; error: string }[];
}

/** One sub-agent's answer to one subtask, stored outside the workflow state. */
export interface SubtaskResult {
  subtaskId: string;
  agentId: string;
  stage: number;
  status: 'ANSWERED' | 'FAILED';
  answer?: string;
  verdict?: string;
  reasons?: string[];
  expected?: string;
  correct?: boolean;
  /** The answer was cut at the output-token limit (finish_reason `length`). */
  cut?: boolean;
  error?: string;
}

/** A sub-agent's final record for a stage. */
export interface AgentRecord {
  stage: number;
  agentId: string;
  status: 'SUCCEEDED' | 'FAILED';
  attempt: number;
  stepCount: number;
  subtaskIds: string[];
  error?: string;
}

/** Which of a tenant's jobs a listing returns, in which order, from where. */
export interface JobListing extends PageOptions {
  /** `newest` first (the default: the API's listing) or `oldest` first (exports). */
  order?: 'newest' | 'oldest';
  /** Only the jobs accepted at or after this ISO timestamp. */
  since?: string;
  /**
   * Read each job back from its own item (consistent), not from the listing index, which may lag a
   * job's latest state by a moment.
   */
  consistent?: boolean;
}

/** Which jobs, across tenants, a {@link JobSearch} finds. */
export interface JobCriteria {
  /** Jobs whose idempotency key begins with this. */
  idempotencyKeyPrefix?: string;
  /** Jobs in one of these statuses (unset or empty: any status). */
  statuses?: readonly JobStatus[];
}

/**
 * Jobs across tenants, found by what they hold rather than by tenant: the local operator's view
 * (which jobs did the batch intake start, which did a stopped server leave running). It reads the
 * whole table, so it serves the embedded stack and its tools, never a request path.
 */
export interface JobSearch {
  /** Every job matching `criteria`, in no particular order. */
  findJobs(criteria: JobCriteria): AsyncIterable<JobRecord>;
  /** How many jobs match `criteria`. */
  countJobs(criteria: JobCriteria): Promise<number>;
}

/** Jobs, their subtasks, data and results. */
export interface JobStore {
  /** Stores a new job with its subtasks and data; false (and nothing changed) if the job exists. */
  createJob(
    job: JobRecord,
    subtasks: readonly Subtask[],
    dataset?: Record<string, unknown[]>,
  ): Promise<boolean>;
  getJob(ref: JobRef): Promise<JobRecord | undefined>;
  updateJob(ref: JobRef, patch: Partial<Omit<JobRecord, 'tenantId' | 'jobId'>>): Promise<void>;
  /** Stores a terminal state once; a second call leaves the first one in place and returns false. */
  finishJob(
    ref: JobRef,
    outcome: Pick<JobRecord, 'status' | 'finishedAt' | 'metrics' | 'result' | 'error'>,
  ): Promise<boolean>;
  /** One page of the tenant's jobs, newest first unless `order` says otherwise. */
  listJobs(tenantId: string, opts?: JobListing): Promise<Page<JobRecord>>;
  putSubtasks(ref: JobRef, subtasks: readonly Subtask[]): Promise<void>;
  listSubtasks(ref: JobRef): Promise<Subtask[]>;
  getSubtasks(ref: JobRef, ids: readonly string[]): Promise<Subtask[]>;
  /** The job and those of the subtasks `ids` that exist (in that order), in one read: a sub-agent's start. */
  getJobAndSubtasks(
    ref: JobRef,
    ids: readonly string[],
  ): Promise<{ job: JobRecord | undefined; subtasks: Subtask[] }>;
  getDatasetItem(ref: JobRef, kind: string, id: string): Promise<unknown | undefined>;
  putResult(ref: JobRef, result: SubtaskResult): Promise<void>;
  listResults(ref: JobRef): Promise<SubtaskResult[]>;
}

/** Step records and per-agent bookkeeping. Writes are idempotent per (stage, role, agent, step). */
export interface StepRecorder {
  /** Counts an invocation of an agent; the first call returns 1, a retried Lambda gets 2, … */
  nextAttempt(ref: JobRef, stage: number, role: Role, agentId: string): Promise<number>;
  recordStep(ref: JobRef, step: StepRecord): Promise<void>;
  /**
   * Stores the agent's outcome and drops steps an earlier, longer attempt left behind (a first
   * attempt has none: nothing is looked up). `results` (subtask results not stored yet, e.g. the
   * last one's) are stored with the record, in the same request when they fit, never after it.
   */
  finishAgent(
    ref: JobRef,
    agent: AgentRecord,
    role?: Role,
    results?: readonly SubtaskResult[],
  ): Promise<void>;
  /**
   * Records a sub-agent that died (the workflow caught its failure) as FAILED with `error`, its
   * attempt and step count taken from the steps it left, unless it has a record already (its own
   * is more precise); true when this call stored it.
   */
  recordAgentFailure(
    ref: JobRef,
    agent: Pick<AgentRecord, 'stage' | 'agentId' | 'subtaskIds'> & { error: string },
  ): Promise<boolean>;
  listSteps(ref: JobRef): Promise<StepRecord[]>;
  /** One agent's steps in one stage, in step order (a Query of its keys alone). */
  listAgentSteps(ref: JobRef, stage: number, role: Role, agentId: string): Promise<StepRecord[]>;
  /** One page of the job's steps in key order (stage, role, agent, step). */
  listStepsPage(ref: JobRef, opts?: PageOptions): Promise<Page<StepRecord>>;
  listAgents(ref: JobRef): Promise<AgentRecord[]>;
  countFinishedAgents(ref: JobRef, stage: number): Promise<number>;
  /** How far the job has come: its sub-agents finished so far (every stage) and its steps recorded. */
  countProgress(ref: JobRef): Promise<ProgressCounts>;
}

/** What {@link StepRecorder.countProgress} counts. */
export interface ProgressCounts {
  /** Sub-agents that ended SUCCEEDED, over every stage. */
  succeeded: number;
  /** Sub-agents that ended FAILED, over every stage. */
  failed: number;
  /** Step records so far (main and sub). */
  steps: number;
}

export type { AgentAssignment };
