import type { AppConfig } from '#shared/config';
import { ProviderRejectedError } from '#shared/domain/errors';
import {
  computeJobMetrics,
  DEFAULT_WEIGHTS,
  KIMI_K25_PRICES,
  providerMetrics,
} from '#shared/domain/measures';
import { synthesizerSystemPrompt } from '#shared/domain/prompts';
import type {
  JobMetrics,
  JobStatus,
  PriceTable,
  ProviderMetrics,
  RewardWeights,
  StepRecord,
  Subtask,
} from '#shared/domain/types';
import type { ItemStore } from '#shared/ports/item-store';
import type {
  JobRecord,
  JobRef,
  JobResult,
  JobStore,
  StepRecorder,
  SubtaskResult,
} from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { LlmClient } from '#shared/ports/llm';
import type { PolicyStore } from '#shared/ports/policy-store';
import { modelStep } from './model-step';
import { type NextStageOutput, planNextStage } from './next-stage';
import { learnFromJob, scoringWeights } from './policy';

/** What the Map hands over per sub-agent: its own summary, or the caught error of one that died. */
export interface MapItemResult {
  agentId: string;
  status: 'SUCCEEDED' | 'FAILED';
  error?: string;
  cause?: string;
}

export interface AggregateInput extends JobRef {
  stage?: number;
  subagentResults?: MapItemResult[];
  /** Set by the workflow's failure path: the error a state caught. */
  failure?: { Error?: string; Cause?: string };
  /** The terminal state of the failure path: FAILED (default), or CANCELLED for a stopped execution. */
  outcome?: 'FAILED' | 'CANCELLED';
}

/** The input of the failure path (`failure` set), which closes the job without a model call. */
export interface FailureInput extends AggregateInput {
  failure: { Error?: string; Cause?: string };
}

export interface AggregateOutput {
  jobId: string;
  status: JobStatus;
  error?: string;
}

/** What closing a job needs on every path; the failure path needs nothing more (no model call). */
export interface CloseJobDeps {
  store: JobStore;
  steps: StepRecorder;
  weights?: RewardWeights;
  prices?: PriceTable;
  /** The fan-out policies; without them no job trains a policy. */
  policies?: PolicyStore;
  config?: Partial<Pick<AppConfig, 'policy' | 'spuriousFinishThreshold'>>;
  /** Told once per job, when this call stored its terminal state (the alarm metrics hang here). */
  onFinished?: (ref: JobRef, metrics: JobMetrics) => void;
  /** Settles the job's budget and records its usage once it is terminal. */
  ledger?: BudgetLedger;
}

export interface AggregateDeps extends CloseJobDeps {
  llm: LlmClient;
  /** Where a distributed next stage's assignments go (as for the plan). */
  items?: ItemStore;
  /** The provider the job ran against; its summary goes into the metrics. */
  provider?: Omit<ProviderMetrics, 'calls' | 'retries' | 'rateLimited' | 'waitedMs'>;
}

/** How many result lines the synthesis prompt carries at most. */
export const SYNTHESIS_MAX_LINES = 200;

/** The message inside a Step Functions error Cause (a Lambda's `{errorMessage}` JSON, or plain text). */
export function causeMessage(failure: { Error?: string; Cause?: string }): string {
  const cause = failure.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) return `${failure.Error ?? 'Error'}: ${parsed.errorMessage}`;
  } catch {
    // not JSON: a plain message
  }
  return `${failure.Error ?? 'Error'}${cause ? `: ${cause}` : ''}`;
}

/**
 * Closes a job: measures, final answer, terminal state.
 *
 * 1. load the job; a job already terminal is left as it is (a retried aggregate changes nothing)
 * 2. record sub-agents that died without a record (the Map caught their failure)
 * 3. a multi-stage job with subtasks still unanswered and stages left plans the next stage and
 *    returns its Map input (status NEXT_STAGE; the workflow loops back to the Map)
 * 4. on the failure path, or when no sub-agent completed, store FAILED (or the failure path's
 *    `outcome`, CANCELLED) with the reason
 * 5. otherwise synthesize the final answer with one model call (an orchestrator step)
 * 6. compute the measures from the stored steps (λ annealed when the tenant asks), flag serial
 *    collapse and spurious parallelism
 * 7. a scored job planned by a policy teaches it its rPARL (idempotent per job; unscored jobs and the
 *    failure path do not train), then the terminal state is stored
 *
 * The failure path makes no model call, so it takes no LLM client.
 */
export function aggregateJob(deps: CloseJobDeps, input: FailureInput): Promise<AggregateOutput>;
export function aggregateJob(
  deps: AggregateDeps,
  input: AggregateInput,
): Promise<AggregateOutput | NextStageOutput>;
export async function aggregateJob(
  deps: CloseJobDeps & Pick<Partial<AggregateDeps>, 'llm' | 'provider'>,
  input: AggregateInput,
): Promise<AggregateOutput | NextStageOutput> {
  const ref: JobRef = { tenantId: input.tenantId, jobId: input.jobId };
  const job = await deps.store.getJob(ref);
  if (!job) return { jobId: input.jobId, status: 'FAILED', error: `job ${input.jobId} not found` };
  if (job.status === 'SUCCEEDED' || job.status === 'FAILED' || job.status === 'CANCELLED') {
    // A retry after the terminal state was stored: make sure the settlement happened too.
    await settleJob(deps, job);
    return { jobId: job.jobId, status: job.status, ...(job.error ? { error: job.error } : {}) };
  }
  const stage = input.stage ?? job.plan?.stage ?? 1;

  let agents = await deps.steps.listAgents(ref);
  const died = (input.subagentResults ?? []).filter(
    (item) =>
      item.status === 'FAILED' && !agents.some((a) => a.agentId === item.agentId && a.stage === stage),
  );
  if (died.length > 0) {
    const stepsSoFar = await deps.steps.listSteps(ref);
    for (const item of died) {
      const own = stepsSoFar.filter(
        (s) => s.stage === stage && s.role === 'sub' && s.agentId === item.agentId,
      );
      await deps.steps.finishAgent(ref, {
        stage,
        agentId: item.agentId,
        status: 'FAILED',
        attempt: Math.max(0, ...own.map((s) => s.attempt)),
        stepCount: own.length,
        subtaskIds: [],
        error: causeMessage({ Error: item.error, Cause: item.cause }),
      });
    }
    agents = await deps.steps.listAgents(ref);
  }
  const [results, subtasks] = await Promise.all([deps.store.listResults(ref), deps.store.listSubtasks(ref)]);
  if (!input.failure) {
    const next = await planNextStage(
      deps,
      ref,
      job,
      stage,
      subtasks.map((s) => s.id),
      results,
    );
    if (next) return next;
  }
  const spawned = job.plan ? (job.plan.earlierAgents ?? 0) + job.plan.agents : agents.length;
  const completed = agents.filter((a) => a.status === 'SUCCEEDED').length;
  const failedAgents = agents
    .filter((a) => a.status === 'FAILED')
    .map((a) => ({ agentId: a.agentId, error: a.error ?? 'failed' }));

  let error: string | undefined;
  if (input.failure) error = causeMessage(input.failure);
  else if (spawned > 0 && completed === 0) {
    error = `all ${spawned} sub-agents failed; first error: ${failedAgents[0]?.error ?? 'unknown'}`;
  }

  let answer = '';
  if (!error) {
    // Unreachable through the overloads: only the failure path may come without an LLM client.
    if (!deps.llm) throw new TypeError('aggregateJob needs an LLM client outside the failure path');
    try {
      answer = await synthesize({ ...deps, llm: deps.llm }, ref, stage, job, results, subtasks.length);
    } catch (e) {
      if (!(e instanceof ProviderRejectedError)) throw e;
      error = `synthesis failed: ${e.message}`;
    }
  }
  const summary = summarize(results, subtasks);
  const finishedAt = new Date().toISOString();
  const steps = await deps.steps.listSteps(ref);
  const planPolicy = job.plan?.policy;
  const policies = planPolicy && planPolicy.mode !== 'off' ? deps.policies : undefined;
  const baseWeights = job.weights ?? deps.weights ?? DEFAULT_WEIGHTS;
  const weights =
    policies && planPolicy
      ? await scoringWeights(
          { policies },
          ref.tenantId,
          planPolicy.taskClass,
          baseWeights,
          job.annealJobs ?? deps.config?.policy?.annealJobs ?? 0,
        )
      : baseWeights;
  const metrics = computeJobMetrics({
    steps,
    spawned,
    completed,
    correct: summary.correct ?? 0,
    scored: summary.scored ?? 0,
    acceptedAt: job.acceptedAt,
    finishedAt,
    weights,
    prices: deps.prices ?? KIMI_K25_PRICES,
    mode: job.request.mode,
    subtasks: subtasks.length,
    ...(deps.config?.spuriousFinishThreshold === undefined
      ? {}
      : { spuriousFinishThreshold: deps.config.spuriousFinishThreshold }),
  });
  const budget = job.plan?.budget;
  if (budget && planPolicy) {
    const subCalls = steps.filter((s) => s.role === 'sub').length;
    metrics.toggle = {
      fullBudget: budget.fullBudget,
      budget: budget.budget,
      reduced: budget.reduced,
      tokensSaved: (budget.fullBudget - budget.budget) * subCalls,
    };
  }
  if (planPolicy) {
    const scored =
      metrics.reward !== null && metrics.rPerf !== null
        ? { reward: metrics.reward, rPerf: metrics.rPerf }
        : undefined;
    const trained = !!policies && !input.failure && scored !== undefined;
    if (policies && !input.failure && scored) {
      await learnFromJob(
        { policies },
        {
          tenantId: ref.tenantId,
          jobId: ref.jobId,
          policy: planPolicy,
          subtasks: subtasks.length,
          ...scored,
        },
      );
    }
    metrics.policy = {
      taskClass: planPolicy.taskClass,
      mode: planPolicy.mode,
      ...(planPolicy.armId ? { armId: planPolicy.armId } : {}),
      width: planPolicy.width,
      itemsPerAgent: planPolicy.itemsPerAgent,
      trained,
    };
  }
  if (deps.provider) metrics.provider = providerMetrics(deps.provider, steps);
  const result: JobResult = {
    answer,
    summary,
    ...(failedAgents.length > 0 ? { failedAgents: failedAgents.slice(0, 100) } : {}),
  };
  let status: JobStatus = 'SUCCEEDED';
  if (error) status = input.failure && input.outcome === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
  const stored = await deps.store.finishJob(ref, {
    status,
    finishedAt,
    metrics,
    result,
    ...(error ? { error } : {}),
  });
  await settleJob(deps, job, steps);
  if (!stored) {
    const current = await deps.store.getJob(ref);
    return {
      jobId: job.jobId,
      status: current?.status ?? status,
      ...(current?.error ? { error: current.error } : {}),
    };
  }
  deps.onFinished?.(ref, metrics);
  return { jobId: job.jobId, status, ...(error ? { error } : {}) };
}

/** Charges a terminal job's cost and records its usage (idempotent; a no-op without a ledger). */
export async function settleJob(
  deps: Pick<CloseJobDeps, 'ledger' | 'steps' | 'prices'>,
  job: JobRecord,
  steps?: readonly StepRecord[],
): Promise<void> {
  if (!deps.ledger) return;
  await deps.ledger.settle(
    job,
    job.acceptedAt,
    steps ?? (await deps.steps.listSteps(job)),
    deps.prices ?? KIMI_K25_PRICES,
  );
}

/** Counts of the stage's results; `scored`/`correct` only over subtasks with ground truth. */
export function summarize(
  results: readonly SubtaskResult[],
  subtasks: readonly Subtask[],
): Record<string, number> {
  const answered = results.filter((r) => r.status === 'ANSWERED');
  const summary: Record<string, number> = {
    subtasks: subtasks.length,
    answered: answered.length,
    unanswered: subtasks.length - answered.length,
  };
  const cut = answered.filter((r) => r.cut).length;
  if (cut > 0) summary.cut = cut;
  const verdicts = answered.filter((r) => r.verdict);
  if (verdicts.length > 0) {
    summary.compliant = verdicts.filter((r) => r.verdict === 'compliant').length;
    summary.nonCompliant = verdicts.filter((r) => r.verdict === 'non_compliant').length;
  }
  // Every subtask with ground truth is scored; one without a usable answer (its agent died) is wrong.
  const withTruth = new Set(subtasks.filter((s) => s.expected !== undefined).map((s) => s.id));
  if (withTruth.size > 0) {
    summary.scored = withTruth.size;
    summary.correct = results.filter((r) => withTruth.has(r.subtaskId) && r.correct === true).length;
  }
  return summary;
}

async function synthesize(
  deps: AggregateDeps,
  ref: JobRef,
  stage: number,
  job: JobRecord,
  results: readonly SubtaskResult[],
  subtasks: number,
): Promise<string> {
  const attempt = await deps.steps.nextAttempt(ref, stage, 'main', 'synthesizer');
  const lines = results
    .slice()
    .sort((a, b) => a.subtaskId.localeCompare(b.subtaskId))
    .slice(0, SYNTHESIS_MAX_LINES)
    .map((r) =>
      r.status === 'ANSWERED'
        ? `- ${r.subtaskId}: ${r.verdict ? `${r.verdict}${r.reasons?.length ? ` (${r.reasons.join('; ')})` : ''}` : (r.answer ?? '').slice(0, 300)}`
        : `- ${r.subtaskId}: no answer (${r.error ?? 'failed'})`,
    );
  const more =
    results.length > SYNTHESIS_MAX_LINES
      ? `\n… and ${results.length - SYNTHESIS_MAX_LINES} more results.`
      : '';
  const response = await modelStep(
    deps,
    { ref, stage, role: 'main', agentId: 'synthesizer', step: 1, attempt },
    {
      messages: [
        { role: 'system', content: synthesizerSystemPrompt },
        {
          role: 'user',
          content: `Task: ${job.request.task}\n\nResults of ${results.length} of ${subtasks} subtasks:\n${lines.join('\n')}${more}`,
        },
      ],
      maxTokens: 1500,
    },
  );
  await deps.steps.finishAgent(
    ref,
    { stage, agentId: 'synthesizer', status: 'SUCCEEDED', attempt, stepCount: 1, subtaskIds: [] },
    'main',
  );
  const text = response.content ?? '';
  return response.finishReason === 'length'
    ? `${text}\n[cut: the answer reached the limit of 1500 output tokens (finish_reason length)]`
    : text;
}
