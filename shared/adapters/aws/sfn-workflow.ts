import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { JobRef } from '#shared/ports/job-store';
import type { WorkflowControl } from '#shared/ports/workflow';

/** The execution ARN of a named execution of a state machine. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/**
 * Starts and stops job executions through the Step Functions API (the cloud, or the embedded
 * runtime's local endpoint: the same calls either way). Executions are named after the job.
 */
export class SfnWorkflow implements WorkflowControl {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(ref: JobRef): Promise<{ executionId: string }> {
    try {
      const out = await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: ref.jobId,
          input: JSON.stringify({ jobId: ref.jobId, tenantId: ref.tenantId }),
        }),
      );
      return { executionId: out.executionArn ?? executionArnOf(this.stateMachineArn, ref.jobId) };
    } catch (error) {
      // Started before (a duplicate submission with other input would be a different job id).
      if (error instanceof ExecutionAlreadyExists) {
        return { executionId: executionArnOf(this.stateMachineArn, ref.jobId) };
      }
      throw error;
    }
  }

  async stop(executionId: string, cause: string): Promise<void> {
    try {
      const current = await this.client.send(new DescribeExecutionCommand({ executionArn: executionId }));
      if (current.status !== 'RUNNING') return;
      await this.client.send(
        new StopExecutionCommand({ executionArn: executionId, error: 'Cancelled', cause }),
      );
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return;
      throw error;
    }
  }
}
