import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { JSONPath } from 'jsonpath-plus';
import { afterEach, describe, expect, it, vi } from 'vitest';

/**
 * The local interpreter's JSON paths (patches/aws-local-stepfunctions+3.0.0.patch): a path of plain
 * names walked directly, any other through one kept JSONPath evaluator instead of a new instance
 * (and, for a scalar, a thrown Error) per path. These pin what the paths answer, so the patch
 * changes the cost and nothing else.
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

  it('walks a path of plain names without jsonpath-plus, to the same value it would answer', async () => {
    // Prepare: what jsonpath-plus answers for six plain paths; then count what reaches it
    const parameters = {
      'a.$': '$.jobId',
      'b.$': '$.plan.width',
      'c.$': '$.plan',
      'd.$': '$.none',
      'e.$': '$$.Execution.Input.plan.ids',
      'f.$': '$',
    };
    const answers = Object.fromEntries(
      Object.entries(parameters).map(([k, path]) => [
        k.slice(0, -2),
        JSONPath({ path: path.replace('$$.Execution.Input', '$'), json: input, wrap: false }),
      ]),
    );
    const evaluate = vi.spyOn(JSONPath.prototype, 'evaluate');
    // Act
    const out = await run({
      StartAt: 'Pick',
      States: { Pick: { Type: 'Pass', Parameters: parameters, End: true } },
    });
    // Assess: the same values, and none of the six paths went to jsonpath-plus
    expect(out).toEqual(answers);
    expect(out).toMatchObject({ a: 'j1', b: 3, d: null, e: ['a', 'b'], f: input });
    expect(evaluate).not.toHaveBeenCalled();
  });

  it('leaves to jsonpath-plus a plain path whose step is not an own property of an object', async () => {
    // Prepare: the length of a string (a property of no object), a step past a missing key
    const evaluate = vi.spyOn(JSONPath.prototype, 'evaluate');
    // Act
    const length = await run({
      StartAt: 'Pick',
      States: { Pick: { Type: 'Pass', Parameters: { 'n.$': '$.jobId.length' }, End: true } },
    });
    const missing = await run({
      StartAt: 'Pick',
      States: { Pick: { Type: 'Pass', Parameters: { 'x.$': '$.plan.missing.deeper' }, End: true } },
    });
    // Assess: as jsonpath-plus answers them (2 characters; nothing: States.Runtime)
    expect(length).toEqual({ n: 2 });
    expect(missing).toMatchObject({ name: 'ExecutionError', cause: { name: 'States.Runtime' } });
    expect(evaluate).toHaveBeenCalledTimes(2);
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
          Parameters: { 'a.$': '$.items[0].id', 'b.$': '$.items[1].n', 'c.$': '$.plan.ids[*]' },
          End: true,
        },
      },
    });
    // Assess: three paths, one evaluator (unpatched, each path made its own instance).
    expect(out).toEqual({ a: 'a', b: 2, c: ['a', 'b'] });
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(receivers.size).toBe(1);
  });

  it("copies each state's input deeply, a key named __proto__ kept as data", async () => {
    // Prepare: an input with nested objects, arrays and a __proto__ key (as JSON.parse makes it)
    const raw = JSON.parse('{"__proto__": {"polluted": true}, "a": [1, {"b": null}], "c": {"d": "e"}}');
    const definition = {
      StartAt: 'Keep',
      States: {
        Keep: { Type: 'Pass', ResultPath: '$.copy', Next: 'Done' },
        Done: { Type: 'Pass', End: true },
      },
    };
    // Act
    const out = (await new StateMachine(definition as StateMachineDefinition).run(raw).result) as Record<
      string,
      unknown
    >;
    // Assess: the same JSON, own keys (no prototype set), and copies, not the input's objects
    expect(JSON.parse(JSON.stringify(out))).toEqual(
      JSON.parse(
        '{"__proto__": {"polluted": true}, "a": [1, {"b": null}], "c": {"d": "e"}, "copy": {"__proto__": {"polluted": true}, "a": [1, {"b": null}], "c": {"d": "e"}}}',
      ),
    );
    expect(Object.keys(out)).toEqual(['__proto__', 'a', 'c', 'copy']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(out.c).not.toBe(raw.c);
    expect(out.a).not.toBe(raw.a);
  });
});
