import { type RunOptions, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { stateMachineAsl } from '#cdk/asl';
import { JOB_FAILED, STATE_NAMES } from '#cdk/state-machine';
import { readerStateName, withLocalItemReaders } from '#local/item-reader';
import { synthesize } from './synth.ts';

// The synthesized definition, rewritten for the local ItemReader as the runtime does, run by the
// library the local runtime uses, with stub handlers: a check that the contract in
// cdk/state-machine.ts holds outside the cloud too.
const asl = withLocalItemReaders(stateMachineAsl(synthesize().workflowTemplate.toJSON())).definition;
const ITEM_READER = readerStateName(STATE_NAMES.subagentsDistributed);
const noRetryWait = Object.fromEntries(Object.values(STATE_NAMES).map((name) => [name, 0]));

type Json = Record<string, unknown>;
type Handler = (input: Json) => unknown;
type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;

class TransientError extends Error {
  override name = 'TransientError';
}

const AGENTS = [
  { agentId: 'a1', subtaskIds: ['s1', 's2'] },
  { agentId: 'a2', subtaskIds: ['s3'] },
  { agentId: 'a3', subtaskIds: ['s4'] },
];

/** The plan: the assignments in the state (inline), or in S3 for the Distributed Map's ItemReader. */
function plan(mapMode: 'INLINE' | 'DISTRIBUTED'): Handler {
  return (input) => ({
    ...input,
    stage: 1,
    maxConcurrency: 2,
    mapMode,
    ...(mapMode === 'INLINE'
      ? { agents: AGENTS }
      : { items: { bucket: 'b', key: 'items/t1/j1/stage-1.json' }, settings: SETTINGS }),
  });
}

/** The Distributed Map's input carries what its sub-agents need of the job (the plan's settings). */
const SETTINGS = { workload: 'generic', maxOutputTokens: 64 };

/** The local ItemReader's stand-in: the object's items, each carrying its subtasks as the plan writes them. */
const subtasksOf = (ids: readonly string[]) => ids.map((id) => ({ id, prompt: `Question ${id}` }));
/** The plan's lease for a1's first call (the other items carry none). */
const LEASE = { id: 'lease-a1', waitedMs: 0, limiterMs: 0, slot: 3 };
const itemReader: Handler = () =>
  AGENTS.map((a) => ({
    ...a,
    subtasks: subtasksOf(a.subtaskIds),
    reservation: a.agentId === 'a1' ? LEASE : null,
  }));

async function run(handlers: Record<string, Handler>) {
  const calls: Record<string, Json[]> = {};
  const taskResourceLocalHandlers = Object.fromEntries(
    Object.entries(handlers).map(([state, handler]) => [
      state,
      (input: unknown) => {
        calls[state] = [...(calls[state] ?? []), input as Json];
        return handler(input as Json);
      },
    ]),
  ) as LocalHandlers;
  const machine = new StateMachine(asl as unknown as StateMachineDefinition);
  const execution = machine.run(
    { jobId: 'j1', tenantId: 't1' },
    { overrides: { taskResourceLocalHandlers, retryIntervalOverrides: noRetryWait } },
  );
  try {
    return { output: await execution.result, error: undefined, calls };
  } catch (error) {
    // The library wraps the Fail state's error (name = Error, message = Cause) in an ExecutionError.
    return { output: undefined, error: (error as Error).cause as Error, calls };
  }
}

const subagent: Handler = (input) => {
  if (input.agentId === 'a2') throw new TransientError('provider kept failing');
  return { agentId: input.agentId, status: 'SUCCEEDED', ref: `STEP#${input.agentId}` };
};
const aggregate: Handler = (input) => ({ jobId: input.jobId, status: 'SUCCEEDED' });

describe('the synthesized workflow, run locally', () => {
  it.each([
    ['INLINE', 'RunSubagent', 'SubagentFailed'],
    ['DISTRIBUTED', 'RunSubagentD', 'SubagentFailedD'],
  ] as const)(
    'fans out in %s mode and tolerates a sub-agent that fails after its retries',
    async (mode, task, recordFailure) => {
      // Act
      const { output, error, calls } = await run({
        Plan: plan(mode),
        [ITEM_READER]: itemReader,
        [task]: subagent,
        [recordFailure]: (input) => ({ agentId: input.agentId, status: 'FAILED', recorded: true }),
        Aggregate: aggregate,
      });
      // Assess
      expect(error).toBeUndefined();
      expect(output).toEqual({ jobId: 'j1', status: 'SUCCEEDED' });
      expect(calls.Plan).toEqual([{ jobId: 'j1', tenantId: 't1' }]);
      // Distributed: the items come from the plan's object, read as the cloud's ItemReader would
      expect(calls[ITEM_READER]).toEqual(
        mode === 'DISTRIBUTED'
          ? [{ Bucket: 'b', Key: 'items/t1/j1/stage-1.json', ReaderConfig: { InputType: 'JSON' } }]
          : undefined,
      );
      expect(calls[task]).toContainEqual({
        jobId: 'j1',
        tenantId: 't1',
        stage: 1,
        agentId: 'a1',
        subtaskIds: ['s1', 's2'],
        // Only the Distributed Map's items carry the subtasks and the settings (an inline plan stays small).
        ...(mode === 'DISTRIBUTED'
          ? { subtasks: subtasksOf(['s1', 's2']), reservation: LEASE, settings: SETTINGS }
          : {}),
      });
      // TransientError is not retried by Step Functions: model calls retry at the client only.
      expect(calls[task]?.filter((input) => input.agentId === 'a2')).toHaveLength(1);
      // The failed sub-agent is recorded by its own small task; nothing of the Map reaches Aggregate.
      expect(calls[recordFailure]).toEqual([
        {
          jobId: 'j1',
          tenantId: 't1',
          stage: 1,
          agentId: 'a2',
          subtaskIds: ['s3'],
          failure: { error: 'TransientError', cause: 'provider kept failing' },
        },
      ]);
      expect(calls.Aggregate).toEqual([{ jobId: 'j1', tenantId: 't1', stage: 1 }]);
    },
  );

  it('stores a failed plan through FinalizeFailure and fails the execution', async () => {
    // Act
    const { error, calls } = await run({
      Plan: () => {
        throw new Error('bad request');
      },
      FinalizeFailure: () => ({ stored: true }),
    });
    // Assess
    expect(error).toMatchObject({ name: JOB_FAILED.error, message: JOB_FAILED.cause });
    expect(calls.FinalizeFailure).toEqual([
      { jobId: 'j1', tenantId: 't1', failure: { Error: 'Error', Cause: 'bad request' } },
    ]);
  });

  it('fails the execution when the aggregate reports a failed job', async () => {
    const { error, calls } = await run({
      Plan: plan('INLINE'),
      RunSubagent: subagent,
      Aggregate: (input) => ({ jobId: input.jobId, status: 'FAILED', error: 'no sub-agent finished' }),
    });
    expect(error).toMatchObject({ name: JOB_FAILED.error });
    expect(calls.FinalizeFailure).toBeUndefined();
  });
});
