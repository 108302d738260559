import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { localExecutionEnd } from '#local/executions';

/** What a local execution of `definition` throws (after `abort` when asked). */
async function thrownBy(definition: object, opts: { abort?: boolean } = {}): Promise<unknown> {
  const execution = new StateMachine(definition as StateMachineDefinition).run({ jobId: 'j1' });
  if (opts.abort) execution.abort();
  try {
    await execution.result;
  } catch (error) {
    return error;
  }
  throw new Error('expected the execution to throw');
}

const waiting = { StartAt: 'Wait', States: { Wait: { Type: 'Wait', Seconds: 30, End: true } } };

describe('localExecutionEnd', () => {
  it("maps a failed execution to FAILED with the Fail state's error and cause", async () => {
    // Prepare
    const thrown = await thrownBy({
      StartAt: 'JobFailed',
      States: { JobFailed: { Type: 'Fail', Error: 'JobFailed', Cause: 'the job failed' } },
    });
    // Act / Assess
    expect(localExecutionEnd(thrown)).toEqual({
      status: 'FAILED',
      error: 'JobFailed',
      cause: 'the job failed',
    });
  });

  it('maps an aborted execution to ABORTED', async () => {
    const thrown = await thrownBy(waiting, { abort: true });
    expect(localExecutionEnd(thrown)).toEqual({ status: 'ABORTED' });
  });

  it('maps a timed-out execution to TIMED_OUT', async () => {
    const thrown = await thrownBy({ ...waiting, TimeoutSeconds: 1 });
    expect(localExecutionEnd(thrown)).toEqual({ status: 'TIMED_OUT' });
  });

  it.each([
    [new TypeError('boom'), { status: 'FAILED', error: 'TypeError', cause: 'boom' }],
    ['a string', { status: 'FAILED', cause: 'a string' }],
  ])('maps anything else thrown (%s) to FAILED', (thrown, end) => {
    expect(localExecutionEnd(thrown)).toEqual(end);
  });
});
