import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { JobRef } from '#shared/ports/job-store';
import type { WorkflowStarter } from '#shared/ports/workflow';

/**
 * Starts the job's Step Functions execution, named after the job: a second start of the same job
 * (a duplicate delivery) finds the execution already there and starts nothing.
 */
export class SfnWorkflowStarter implements WorkflowStarter {
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
      return { executionId: out.executionArn ?? this.executionArn(ref.jobId) };
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) return { executionId: this.executionArn(ref.jobId) };
      throw error;
    }
  }

  private executionArn(name: string): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  }
}
