/**
 * Edges of small domain modules that their other tests leave open (see
 * docs/mutation-equivalents.md): AWS usage, deadlines, failure reasons, input bounds, measures,
 * request parsing, reward weights, TOGGLE.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { awsUsageOf, type BilledStep, type JobShape } from '#shared/domain/aws-cost';
import { DEADLINE_REASON, deadlineErrorOf, startDeadline } from '#shared/domain/deadline';
import { DeadlineReachedError, RequestValidationError } from '#shared/domain/errors';
import { firstLine, shortReason } from '#shared/domain/failure-reason';
import {
  checkDatasetBounds,
  checkJsonBounds,
  datasetItemId,
  INPUT_BOUNDS,
} from '#shared/domain/input-bounds';
import { computeJobMetrics, providerMetrics } from '#shared/domain/measures';
import { parseJobRequest } from '#shared/domain/request';
import { checkWeights } from '#shared/domain/tenant';
import { toggleBudget } from '#shared/domain/toggle';
import type { StepRecord } from '#shared/domain/types';
import { thrown } from './thrown';

describe('awsUsageOf', () => {
  const job = (steps: BilledStep[]): JobShape => ({
    steps,
    subagents: 1,
    failedSubagents: 0,
    subtasks: 1,
    stages: 1,
    distributedStages: 0,
    limiter: true,
  });

  it('bills the limiter’s round trips like the call itself', () => {
    const withLimiter = awsUsageOf(job([{ role: 'sub', agentId: 'a', durationMs: 1_000, limiterMs: 500 }]));
    const longer = awsUsageOf(job([{ role: 'sub', agentId: 'a', durationMs: 1_500 }]));
    expect(withLimiter.lambdaGbSeconds).toBe(longer.lambdaGbSeconds);
  });

  it('counts a sub-agent step as the sub-agent’s, even if the agent is called "planner"', () => {
    const named = awsUsageOf(job([{ role: 'sub', agentId: 'planner', durationMs: 1_000 }]));
    const other = awsUsageOf(job([{ role: 'sub', agentId: 'a', durationMs: 1_000 }]));
    expect(named).toEqual(other);
  });
});

describe('deadlines', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('makes a DeadlineReachedError naming the deadline when the signal was aborted for another reason', () => {
    const controller = new AbortController();
    controller.abort(new Error('something else'));
    const notAfter = Date.UTC(2026, 0, 2, 3, 4, 5);
    const error = deadlineErrorOf(controller.signal, notAfter);
    expect(error).toBeInstanceOf(DeadlineReachedError);
    expect(error.deadlineAt).toBe(notAfter);
    expect(error.message).toContain('2026-01-02T03:04:05.000Z');
  });

  it('is reached at its very millisecond, and says when', () => {
    vi.useFakeTimers();
    const at = Date.UTC(2026, 0, 2);
    vi.setSystemTime(at);
    const deadline = startDeadline(at);
    const error = thrown(() => deadline.throwIfReached());
    expect(error).toBeInstanceOf(DeadlineReachedError);
    expect((error as Error).message).toBe(`${DEADLINE_REASON} ${new Date(at).toISOString()}`);
    deadline.clear();
  });

  it('stops its timer on clear: the signal is never aborted', () => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.UTC(2026, 0, 2));
    const cleared = startDeadline(Date.now() + 1_000);
    cleared.clear();
    const running = startDeadline(Date.now() + 1_000);
    vi.advanceTimersByTime(5_000);
    expect(cleared.request.signal.aborted).toBe(false);
    expect(running.request.signal.aborted).toBe(true);
    running.clear();
  });
});

describe('failure reasons', () => {
  it('keeps a line of exactly the maximum length whole', () => {
    expect(firstLine('abc', 3)).toBe('abc');
    expect(firstLine('abcd', 3)).toBe('ab…');
  });

  it('keeps a JSON cause without a string errorMessage as it is', () => {
    expect(shortReason({ error: 'E', cause: '42' })).toBe('E: 42');
    expect(shortReason({ error: 'E', cause: '{"errorMessage":7}' })).toBe('E: {"errorMessage":7}');
  });
});

describe('input bounds', () => {
  /** `levels` arrays, one inside the other, around `leaf`. */
  const nest = (levels: number, leaf: unknown): unknown => {
    let value = leaf;
    for (let i = 0; i < levels; i++) value = [value];
    return value;
  };

  it('limits the nesting of objects and arrays, not the depth of a plain value inside them', () => {
    expect(() => checkJsonBounds(nest(INPUT_BOUNDS.maxDepth, true))).not.toThrow();
    expect(() => checkJsonBounds(nest(INPUT_BOUNDS.maxDepth, null))).not.toThrow();
    expect(() => checkJsonBounds(nest(INPUT_BOUNDS.maxDepth + 1, true))).toThrow(RequestValidationError);
  });

  it('counts the depth from where the walk starts, not from the document’s root', () => {
    expect(() => checkJsonBounds(nest(INPUT_BOUNDS.maxDepth, 1), ['request', 'input'])).not.toThrow();
    expect(() => checkJsonBounds(nest(INPUT_BOUNDS.maxDepth + 1, 1), ['request', 'input'])).toThrow(
      RequestValidationError,
    );
  });

  it('gives a null dataset record its index as id', () => {
    expect(datasetItemId(null, 3)).toBe('3');
    expect(() => checkDatasetBounds({ items: [null, { id: 'a' }] })).not.toThrow();
  });
});

describe('measures', () => {
  const step = (role: 'main' | 'sub', agentId: string, over: Partial<StepRecord> = {}): StepRecord => ({
    stage: 1,
    role,
    agentId,
    step: 1,
    startedAt: '2026-11-29T00:00:00.000Z',
    endedAt: '2026-11-29T00:00:00.100Z',
    durationMs: 100,
    inputTokens: 100,
    outputTokens: 10,
    cachedInputTokens: 20,
    status: 'SUCCEEDED',
    attempt: 1,
    ...over,
  });

  it('scores with the weights it is given', () => {
    const weights = { parallel: 0, finish: 0, perf: 1 };
    const m = computeJobMetrics({
      steps: [step('main', 'planner'), step('sub', 'a')],
      spawned: 1,
      completed: 1,
      correct: 1,
      scored: 4,
      acceptedAt: '2026-11-29T00:00:00.000Z',
      finishedAt: '2026-11-29T00:00:01.000Z',
      weights,
    });
    expect(m.weights).toEqual(weights);
    expect(m.reward).toBeCloseTo(0.25, 12);
  });

  it('adds up the limiter’s time over the steps, a step without it counting 0', () => {
    const info = {
      name: 'p',
      model: 'm',
      baseUrl: 'http://localhost',
      limits: { maxConcurrency: 1, rpm: null, tpm: null, windowMs: 60_000 },
      limiter: true,
    };
    const steps = [
      step('sub', 'a', { limiterMs: 30 }),
      step('sub', 'b'),
      step('sub', 'c', { limiterMs: 12 }),
    ];
    expect(providerMetrics(info, steps).limiterMs).toBe(42);
  });
});

describe('parseJobRequest', () => {
  const cap = { maxSubagentsCap: 8 };
  const error = (raw: unknown) => thrown(() => parseJobRequest(raw, cap)) as RequestValidationError;

  it('refuses an empty subtask list, saying so', () => {
    expect(error({ task: 'T', subtasks: [] })).toMatchObject({
      field: 'subtasks',
      reason: 'must not be empty',
    });
  });

  it('sets no expected key on a subtask without one', () => {
    const r = parseJobRequest(
      {
        task: 'T',
        subtasks: [
          { id: 'a', prompt: 'p' },
          { prompt: 'q', expected: 'x' },
        ],
      },
      cap,
    );
    expect(r.subtasks).toStrictEqual([
      { id: 'a', prompt: 'p' },
      { id: 'S-0002', prompt: 'q', expected: 'x' },
    ]);
  });

  it('names a duplicate subtask id', () => {
    const e = error({
      task: 'T',
      subtasks: [
        { id: 'a', prompt: 'p' },
        { id: 'a', prompt: 'q' },
      ],
    });
    expect(e).toMatchObject({ field: 'subtasks[1].id' });
    expect(e.reason).toContain('"a"');
  });

  it('says which policies TOGGLE needs', () => {
    const e = error({ task: 'T', toggle: true });
    expect(e.field).toBe('toggle');
    expect(e.reason).toContain('"learn"');
    expect(e.reason).toContain('"greedy"');
  });
});

describe('checkWeights', () => {
  it('refuses a weight above 1 even when the sum is within the tolerance', () => {
    expect(() => checkWeights({ parallel: 1 + 5e-10, finish: 0, perf: 0 })).toThrow(RequestValidationError);
  });
});

describe('toggleBudget', () => {
  it('says how many scored jobs it has seen of the window', () => {
    expect(toggleBudget(1000, [0.95]).reason).toContain('1 of 3');
  });

  it('keeps the full budget when r_perf is low but steady', () => {
    const d = toggleBudget(1000, [0.85, 0.86, 0.87]);
    expect(d).toMatchObject({ budget: 1000, reduced: false });
    expect(d.reason).toContain('0.850');
  });

  it('lowers the budget when the lowest r_perf is exactly the minimum', () => {
    const d = toggleBudget(1000, [0.9, 0.92, 0.93]);
    expect(d).toMatchObject({ budget: 700, reduced: true });
    expect(d.reason).toContain('last 3');
  });

  it('lowers the budget when the spread is exactly the maximum, and says why it did not above it', () => {
    const settings = { factor: 0.5, window: 2, minPerf: 0.5, maxSpread: 0.25 };
    expect(toggleBudget(1000, [0.75, 1], settings)).toMatchObject({ budget: 500, reduced: true });
    const wide = toggleBudget(1000, [0.91, 0.99, 0.95]);
    expect(wide).toMatchObject({ budget: 1000, reduced: false });
    expect(wide.reason).toContain('spread');
  });
});
