/**
 * The executions of the embedded stack: the synthesized state machine run by
 * aws-local-stepfunctions, one execution per name (StartExecution's idempotency), and the safety
 * net the cloud gets from execution-status events: an execution that ends without its job in a
 * terminal state is reported to `onEnded` (the stack closes the job with closeEndedExecution).
 */
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type StateMachine as LocalStateMachine,
  StateMachine,
} from 'aws-local-stepfunctions';
import type { AslDefinition } from '#cdk/asl';
import type { LocalExecution } from '#local/emulators/step-functions';
import { executionArnOf } from '#shared/adapters/aws/sfn-workflow';
import type { JobRef } from '#shared/ports/job-store';
import type { EndedExecution } from '#shared/use-cases/close-ended-execution';

/** How a local execution ended abnormally, from what its result threw (the cloud's status-change event). */
export type LocalExecutionEnd = Omit<EndedExecution, 'jobId' | 'tenantId'>;

/** A local execution that succeeded without its job reaching a terminal state. */
export const ENDED_WITHOUT_RESULT: LocalExecutionEnd = {
  status: 'FAILED',
  reason: 'the execution ended without storing a result',
};

/**
 * Maps what an aws-local-stepfunctions execution threw to how the execution ended: aborted →
 * ABORTED, timed out → TIMED_OUT, anything else → FAILED with the error's name and message (for a
 * failed execution, those of the error it wraps: the Fail state's Error and Cause, as in the cloud).
 */
export function localExecutionEnd(thrown: unknown): LocalExecutionEnd {
  if (thrown instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  if (thrown instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT' };
  const error = thrown instanceof ExecutionError && thrown.cause instanceof Error ? thrown.cause : thrown;
  return error instanceof Error
    ? { status: 'FAILED', error: error.name, cause: error.message }
    : { status: 'FAILED', cause: String(error) };
}

/** The job workflow's executions on this machine. */
export class LocalExecutions {
  private readonly byName = new Map<string, LocalExecution>();
  private readonly machine: LocalStateMachine;

  /**
   * @param handlersByState each Task state's local handler (see ./functions bindTaskStates)
   * @param onEnded called once an execution has ended, with how (ENDED_WITHOUT_RESULT when it
   *   succeeded): it closes the job unless the job already is in a terminal state
   */
  constructor(
    definition: AslDefinition,
    private readonly handlersByState: Record<string, (input: unknown) => Promise<unknown>>,
    readonly stateMachineArn: string,
    private readonly onEnded: (ref: JobRef, end: LocalExecutionEnd) => Promise<void>,
  ) {
    this.machine = new StateMachine(definition as never, {
      validationOptions: { checkPaths: true, checkArn: false },
    });
  }

  /**
   * Starts (or finds) the execution `name` of the job workflow: what StartExecution does. A second
   * start with the same name returns the first execution, as Step Functions does for the same input.
   */
  start(name: string, input: { jobId: string; tenantId: string }): LocalExecution {
    const existing = this.byName.get(name);
    if (existing) return existing;
    const arn = executionArnOf(this.stateMachineArn, name);
    // Nobody reads the execution's events here: the interpreter makes none (patched), where it
    // would queue every one, its Map iterations' too, until someone read them.
    const run = this.machine.run(input, {
      overrides: { taskResourceLocalHandlers: this.handlersByState as never },
      context: { Execution: { Id: arn, Name: name } },
      discardEvents: true,
    });
    const execution: LocalExecution = {
      arn,
      name,
      input,
      startDate: new Date(),
      status: 'RUNNING',
      abort: () => run.abort(),
      done: Promise.resolve(),
    };
    execution.done = run.result.then(
      async (output: unknown) => {
        execution.status = 'SUCCEEDED';
        execution.output = output;
        execution.stopDate = new Date();
        await this.onEnded(input, ENDED_WITHOUT_RESULT);
      },
      async (error: unknown) => {
        const end = localExecutionEnd(error);
        // A stopped execution carries StopExecution's cause, as the cloud's status-change event does.
        if (end.status === 'ABORTED' && execution.cause) end.cause = execution.cause;
        execution.status = end.status;
        execution.stopDate = new Date();
        if (end.error) execution.error = end.error;
        if (end.cause) execution.cause = end.cause;
        await this.onEnded(input, end);
      },
    );
    this.byName.set(name, execution);
    return execution;
  }

  /** An execution by its name (the job id), if this runtime started it. */
  named(name: string): LocalExecution | undefined {
    return this.byName.get(name);
  }

  /** An execution by ARN (DescribeExecution), if this runtime started it. */
  byArn(arn: string): LocalExecution | undefined {
    for (const e of this.byName.values()) if (e.arn === arn) return e;
    return undefined;
  }

  /** Aborts every running execution and waits until each has ended (and closed its job). */
  async abortAll(): Promise<void> {
    for (const e of this.byName.values()) if (e.status === 'RUNNING') e.abort();
    await Promise.allSettled([...this.byName.values()].map((e) => e.done));
  }
}
