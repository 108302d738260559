/**
 * The workflow's `SubagentFailed` step: a sub-agent the Map caught failing is recorded FAILED with
 * a short reason, so that Aggregate reads every outcome from DynamoDB and no Lambda cause (with its
 * stack trace) travels on in the state.
 */
import { type CaughtFailure, shortReason } from '#shared/domain/failure-reason';
import type { JobRef, StepRecorder } from '#shared/ports/job-store';
import type { SubagentInput } from './run-subagent';

/** The caught sub-agent: its Map item, and the error the catch put in the state. */
export interface SubagentFailureInput extends SubagentInput {
  failure: CaughtFailure;
}

/** What the step returns (the Map discards it). */
export interface SubagentFailureOutput {
  agentId: string;
  status: 'FAILED';
  /** False when the sub-agent had recorded its own outcome before it failed. */
  recorded: boolean;
  reason: string;
}

/**
 * Records a caught sub-agent.
 *
 * 1. cut the caught error to a short reason (`shortReason`: the name and the message's first line)
 * 2. store the agent FAILED with it, unless it has a record of its own already (`recordAgentFailure`)
 */
export async function recordSubagentFailure(
  deps: { steps: StepRecorder },
  input: SubagentFailureInput,
): Promise<SubagentFailureOutput> {
  const ref: JobRef = { tenantId: input.tenantId, jobId: input.jobId };
  const reason = shortReason(input.failure);
  const recorded = await deps.steps.recordAgentFailure(ref, {
    stage: input.stage,
    agentId: input.agentId,
    subtaskIds: input.subtaskIds,
    error: reason,
  });
  return { agentId: input.agentId, status: 'FAILED', recorded, reason };
}
