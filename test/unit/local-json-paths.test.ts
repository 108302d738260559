import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { JSONPath } from 'jsonpath-plus';
import { afterEach, describe, expect, it, vi } from 'vitest';

/**
 * The local interpreter's JSON paths (patches/aws-local-stepfunctions+3.0.0.patch): one kept
 * JSONPath evaluator instead of a new instance (and, for a scalar, a thrown Error) per path. These
 * pin what the paths answer, so the patch changes the cost and nothing else.
 */

const input = {
  jobId: 'j1',
  stage: 2,
  ok: false,
  none: null,
  plan: { width: 3, ids: ['a', 'b'] },
  items: [
    { id: 'a', n: 1 },
    { id: 'b', n: 2 },
  ],
};

/** Runs `definition` on `input` and returns its output (or what it threw). */
async function run(definition: object): Promise<unknown> {
  const execution = new StateMachine(definition as StateMachineDefinition).run(input);
  try {
    return await execution.result;
  } catch (error) {
    return error;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('JSON paths of the local Step Functions interpreter', () => {
  it('answers scalars, null, objects, arrays and context paths as Step Functions does', async () => {
    // Prepare
    const definition = {
      StartAt: 'Pick',
      States: {
        Pick: {
          Type: 'Pass',
          Parameters: {
            'jobId.$': '$.jobId',
            'stage.$': '$.stage',
            'ok.$': '$.ok',
            'none.$': '$.none',
            'plan.$': '$.plan',
            'ids.$': '$.plan.ids',
            'second.$': '$.items[1].id',
            'allIds.$': '$.items[*].id',
            'started.$': '$$.Execution.Input.jobId',
          },
          ResultPath: '$.picked',
          OutputPath: '$.picked',
          Next: 'Narrow',
        },
        Narrow: { Type: 'Pass', Parameters: { 'width.$': '$.plan.width', 'rest.$': '$' }, End: true },
      },
    };
    // Act
    const out = await run(definition);
    // Assess
    expect(out).toEqual({
      width: 3,
      rest: {
        jobId: 'j1',
        stage: 2,
        ok: false,
        none: null,
        plan: { width: 3, ids: ['a', 'b'] },
        ids: ['a', 'b'],
        second: 'b',
        allIds: ['a', 'b'],
        started: 'j1',
      },
    });
  });

  it('fails a path that points to nothing with States.Runtime', async () => {
    const out = await run({
      StartAt: 'Pick',
      States: { Pick: { Type: 'Pass', Parameters: { 'x.$': '$.missing' }, End: true } },
    });
    expect(out).toMatchObject({ name: 'ExecutionError', cause: { name: 'States.Runtime' } });
    expect(String((out as Error).message)).toContain("'$.missing'");
  });

  it('chooses on a scalar path and maps over an array path', async () => {
    const out = await run({
      StartAt: 'Which',
      States: {
        Which: {
          Type: 'Choice',
          Choices: [{ Variable: '$.stage', NumericEquals: 2, Next: 'Each' }],
          Default: 'Wrong',
        },
        Wrong: { Type: 'Fail', Error: 'Wrong' },
        Each: {
          Type: 'Map',
          ItemsPath: '$.items',
          ItemSelector: { 'id.$': '$$.Map.Item.Value.id', 'job.$': '$.jobId' },
          ItemProcessor: { StartAt: 'Echo', States: { Echo: { Type: 'Pass', End: true } } },
          End: true,
        },
      },
    });
    expect(out).toEqual([
      { id: 'a', job: 'j1' },
      { id: 'b', job: 'j1' },
    ]);
  });

  it('evaluates every path with one kept evaluator, making no instance per path', async () => {
    // Prepare: every evaluation goes through JSONPath.prototype.evaluate; note its receiver.
    const receivers = new Set<unknown>();
    const evaluate = JSONPath.prototype.evaluate;
    let calls = 0;
    vi.spyOn(JSONPath.prototype, 'evaluate').mockImplementation(function (
      this: unknown,
      ...args: Parameters<typeof evaluate>
    ) {
      calls += 1;
      receivers.add(this);
      return evaluate.apply(this, args);
    });
    // Act
    const out = await run({
      StartAt: 'Pick',
      States: {
        Pick: {
          Type: 'Pass',
          Parameters: { 'a.$': '$.jobId', 'b.$': '$.stage', 'c.$': '$.plan' },
          End: true,
        },
      },
    });
    // Assess: three paths, one evaluator (unpatched, each path made its own instance).
    expect(out).toEqual({ a: 'j1', b: 2, c: { width: 3, ids: ['a', 'b'] } });
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(receivers.size).toBe(1);
  });
});
