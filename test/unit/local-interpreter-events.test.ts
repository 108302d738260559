import { type RunOptions, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { describe, expect, it, vi } from 'vitest';

/**
 * The local interpreter's events and aborts (patches/aws-local-stepfunctions+3.0.0.patch): with
 * `discardEvents` an execution makes no events, its Map iterations neither; a Map iteration aborts
 * with its execution through a listener on the execution's signal (not `AbortSignal.any`).
 */

/** A Map over `$.items` whose iterations each run the Task `Work`. */
const mapOfWork = {
  StartAt: 'Each',
  States: {
    Each: {
      Type: 'Map',
      ItemsPath: '$.items',
      MaxConcurrency: 0,
      ItemProcessor: {
        StartAt: 'Work',
        States: {
          Work: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:work', End: true },
        },
      },
      End: true,
    },
  },
} as unknown as StateMachineDefinition;

const machine = () => new StateMachine(mapOfWork, { validationOptions: { checkArn: false } });

async function eventsOf(logs: AsyncGenerator<unknown>): Promise<string[]> {
  const types: string[] = [];
  for await (const event of logs) types.push((event as { type: string }).type);
  return types;
}

describe('events and aborts of the local Step Functions interpreter', () => {
  it('makes no events with discardEvents, and answers the same', async () => {
    // Prepare: three items, each doubled by the Task
    const work = async (input: unknown) => (input as number) * 2;
    const overrides = { taskResourceLocalHandlers: { Work: work } } as RunOptions['overrides'];
    // Act
    const kept = machine().run({ items: [1, 2, 3] }, { overrides });
    const dropped = machine().run({ items: [1, 2, 3] }, { overrides, discardEvents: true });
    const [keptEvents, droppedEvents] = await Promise.all([
      eventsOf(kept.eventLogs),
      eventsOf(dropped.eventLogs),
    ]);
    // Assess: the same result; events only where they are kept (the iterations' included)
    expect(await kept.result).toEqual([2, 4, 6]);
    expect(await dropped.result).toEqual([2, 4, 6]);
    expect(keptEvents).toContain('MapIterationSucceeded');
    expect(keptEvents.filter((t) => t === 'MapIterationStarted')).toHaveLength(3);
    expect(droppedEvents).toEqual([]);
  });

  it('aborts the running Map iterations with their execution, and none goes on after it', async () => {
    // Prepare: iterations whose Task waits for the test; a second step is reached only past it
    let started = 0;
    let finished = 0;
    const release = Promise.withResolvers<void>();
    const work = async (input: unknown) => {
      started += 1;
      await release.promise;
      finished += 1;
      return input;
    };
    const twoSteps = {
      ...mapOfWork,
      States: {
        Each: {
          ...(mapOfWork.States as Record<string, object>).Each,
          ItemProcessor: {
            StartAt: 'Work',
            States: {
              Work: {
                Type: 'Task',
                Resource: 'arn:aws:lambda:us-east-1:123456789012:function:work',
                Next: 'Again',
              },
              Again: {
                Type: 'Task',
                Resource: 'arn:aws:lambda:us-east-1:123456789012:function:work',
                End: true,
              },
            },
          },
        },
      },
    } as unknown as StateMachineDefinition;
    const run = new StateMachine(twoSteps, { validationOptions: { checkArn: false } }).run(
      { items: [1, 2, 3, 4] },
      {
        overrides: { taskResourceLocalHandlers: { Work: work, Again: work } } as RunOptions['overrides'],
        discardEvents: true,
      },
    );
    await vi.waitFor(() => expect(started).toBe(4));
    // Act
    run.abort();
    const outcome = await run.result.then(
      () => 'finished',
      (error: Error) => error.name,
    );
    release.resolve();
    await new Promise((r) => setTimeout(r, 20));
    // Assess: the execution ended aborted, and no iteration went on to its second Task
    expect(outcome).toBe('ExecutionAbortedError');
    expect(finished).toBe(4);
    expect(started).toBe(4);
  });
});
