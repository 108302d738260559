import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeJobMetrics, providerMetrics, rFinish } from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';

/**
 * The measures against a reference written from ARCHITECTURE.md's definitions, not from
 * shared/domain/measures.ts: a job is generated as nested lists (stage → orchestrator steps, and
 * per sub-agent its steps), the reference folds those lists, and the product sees the same job
 * only as flat step records in a shuffled order, as DynamoDB hands them back.
 */

interface GenStep {
  ms: number;
  input: number;
  cached: number;
  output: number;
  calls: number;
  rateLimited: number;
  waitedMs: number;
}
interface GenStage {
  stage: number;
  main: GenStep[];
  subs: GenStep[][];
}

const genStep: fc.Arbitrary<GenStep> = fc
  .record({
    ms: fc.integer({ min: 0, max: 20_000 }),
    input: fc.integer({ min: 0, max: 200_000 }),
    cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
    output: fc.integer({ min: 0, max: 20_000 }),
    calls: fc.integer({ min: 1, max: 4 }),
    rateLimited: fc.integer({ min: 0, max: 3 }),
    waitedMs: fc.integer({ min: 0, max: 5_000 }),
  })
  .map(({ cachedShare, ...s }) => ({ ...s, cached: Math.floor(s.input * cachedShare) }));

/** Stages with distinct, not necessarily consecutive numbers; sub-agents may have no step. */
const genJob: fc.Arbitrary<GenStage[]> = fc
  .uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 })
  .chain((stageNos) =>
    fc.tuple(
      ...stageNos.map((stage) =>
        fc.record({
          stage: fc.constant(stage),
          main: fc.array(genStep, { maxLength: 3 }),
          subs: fc.array(fc.array(genStep, { maxLength: 5 }), { maxLength: 6 }),
        }),
      ),
    ),
  );

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const max0 = (xs: readonly number[]) => (xs.length === 0 ? 0 : Math.max(...xs));

/** The definitions, folded over the nested lists. */
function reference(job: GenStage[]) {
  const critical = sum(job.map((t) => t.main.length + max0(t.subs.map((a) => a.length))));
  const sequential = sum(job.map((t) => t.main.length + sum(t.subs.map((a) => a.length))));
  const ms = (steps: GenStep[]) => sum(steps.map((s) => s.ms));
  const criticalMs = sum(job.map((t) => ms(t.main) + max0(t.subs.map(ms))));
  const sequentialMs = sum(job.map((t) => ms(t.main) + sum(t.subs.map(ms))));
  const all = job.flatMap((t) => [...t.main, ...t.subs.flat()]);
  const input = sum(all.map((s) => s.input));
  const cached = sum(all.map((s) => s.cached));
  const output = sum(all.map((s) => s.output));
  return {
    critical,
    sequential,
    criticalMs,
    sequentialMs,
    tokens: { input, cachedInput: cached, output },
    // kimi-k2.5: $0.60 per million uncached input, $0.10 cached, $3.00 output
    cost: (0.6 * (input - cached) + 0.1 * cached + 3 * output) / 1e6,
    calls: sum(all.map((s) => s.calls)),
    retries: sum(all.map((s) => s.calls - 1)),
    rateLimited: sum(all.map((s) => s.rateLimited)),
    waitedMs: sum(all.map((s) => s.waitedMs)),
    // A stage exists in the records only through its steps.
    stages: job
      .filter((t) => t.main.length + sum(t.subs.map((a) => a.length)) > 0)
      .sort((a, b) => a.stage - b.stage)
      .map((t) => ({
        stage: t.stage,
        mainSteps: t.main.length,
        maxSubSteps: max0(t.subs.map((a) => a.length)),
        subSteps: sum(t.subs.map((a) => a.length)),
        agents: t.subs.filter((a) => a.length > 0).length,
      })),
  };
}

/** The same job as the store returns it: one record per step, in the order `order` gives. */
function records(job: GenStage[], order: number[]): StepRecord[] {
  const out: StepRecord[] = [];
  const rec = (stage: number, role: 'main' | 'sub', agentId: string, n: number, s: GenStep): StepRecord => ({
    stage,
    role,
    agentId,
    step: n + 1,
    attempt: 1,
    startedAt: '2026-12-01T00:00:00.000Z',
    endedAt: '2026-12-01T00:00:01.000Z',
    durationMs: s.ms,
    inputTokens: s.input,
    cachedInputTokens: s.cached,
    outputTokens: s.output,
    status: 'SUCCEEDED',
    calls: s.calls,
    rateLimited: s.rateLimited,
    waitedMs: s.waitedMs,
  });
  for (const t of job) {
    t.main.forEach((s, n) => {
      out.push(rec(t.stage, 'main', n % 2 === 0 ? 'planner' : 'synthesizer', n, s));
    });
    t.subs.forEach((agent, i) => {
      agent.forEach((s, n) => {
        out.push(rec(t.stage, 'sub', `agent-${i}`, n, s));
      });
    });
  }
  // A permutation by sort keys: any order the store might use.
  return out
    .map((r, i) => ({ r, k: order[i % Math.max(1, order.length)] ?? 0, i }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((x) => x.r);
}

const counts = fc
  .record({ spawned: fc.integer({ min: 0, max: 50 }), extra: fc.integer({ min: -50, max: 50 }) })
  .map(({ spawned, extra }) => ({ spawned, completed: Math.max(0, spawned + extra) }));
const scoring = fc
  .record({ scored: fc.integer({ min: 0, max: 40 }), right: fc.double({ min: 0, max: 1, noNaN: true }) })
  .map(({ scored, right }) => ({ scored, correct: Math.floor(scored * right) }));

describe('the measures against a reference implementation', () => {
  it('matches the reference on random jobs, whatever order the steps come in', () => {
    fc.assert(
      fc.property(
        genJob,
        fc.array(fc.integer(), { maxLength: 40 }),
        counts,
        scoring,
        fc.integer({ min: 0, max: 600_000 }),
        (job, order, { spawned, completed }, { scored, correct }, wallMs) => {
          // Prepare
          const ref = reference(job);
          const acceptedAt = '2026-12-01T10:00:00.000Z';
          const finishedAt = new Date(Date.parse(acceptedAt) + wallMs).toISOString();
          // Act
          const m = computeJobMetrics({
            steps: records(job, order),
            spawned,
            completed,
            correct,
            scored,
            acceptedAt,
            finishedAt,
          });
          // Assess
          expect(m.criticalSteps).toBe(ref.critical);
          expect(m.sequentialSteps).toBe(ref.sequential);
          expect(m.criticalPathMs).toBe(ref.criticalMs);
          expect(m.sequentialMs).toBe(ref.sequentialMs);
          expect(m.wallClockMs).toBe(wallMs);
          expect(m.stepSpeedup).toBeCloseTo(ref.critical === 0 ? 1 : ref.sequential / ref.critical, 12);
          expect(m.overhead).toBeCloseTo(ref.criticalMs === 0 ? 0 : wallMs / ref.criticalMs, 9);
          const rPar = ref.sequential === 0 ? 0 : (ref.sequential - ref.critical) / ref.sequential;
          expect(m.rParallel).toBeCloseTo(rPar, 12);
          const rFin = spawned === 0 ? 0 : Math.min(1, completed / spawned);
          expect(m.rFinish).toBeCloseTo(rFin, 12);
          const rPerf = scored === 0 ? null : correct / scored;
          if (rPerf === null) {
            expect(m.rPerf).toBeNull();
            expect(m.reward).toBeNull();
          } else {
            expect(m.rPerf).toBeCloseTo(rPerf, 12);
            expect(m.reward).toBeCloseTo(0.4 * rPar + 0.35 * rFin + 0.25 * rPerf, 12);
          }
          expect(m.tokens).toEqual(ref.tokens);
          expect(m.costUsd).toBeCloseTo(ref.cost, 9);
          expect(m.stages).toEqual(ref.stages);
          expect(m.subagents).toEqual({ spawned, completed });
          expect(m.flags?.spuriousParallelism).toBe(spawned > 1 && rFin < 0.8);
        },
      ),
    );
  });

  it("matches the reference's provider totals: calls, retries beyond one call a step, 429s, waits", () => {
    fc.assert(
      fc.property(genJob, (job) => {
        const ref = reference(job);
        const info = {
          name: 'moonshot',
          model: 'kimi-k2.5',
          baseUrl: 'http://127.0.0.1:1/v1',
          limits: { maxConcurrency: 1, rpm: undefined, tpm: undefined, windowMs: 60_000 },
          limiter: 'dynamodb',
        } as unknown as Parameters<typeof providerMetrics>[0];
        expect(providerMetrics(info, records(job, []))).toMatchObject({
          calls: ref.calls,
          retries: ref.retries,
          rateLimited: ref.rateLimited,
          waitedMs: ref.waitedMs,
        });
      }),
    );
  });
});

describe('r_finish', () => {
  it.each([
    [4, 6, 1],
    [4, 4, 1],
    [4, 3, 0.75],
    [1, 2, 1],
    [0, 3, 0],
  ])('with %i spawned and %i completed is %d (never above 1)', (spawned, completed, expected) => {
    expect(rFinish(spawned, completed)).toBe(expected);
  });

  it('caps a job whose completions outnumber its spawns (a retried agent counted twice) at 1 in the reward', () => {
    // Prepare: one stage, two sub-agents of one step each, reported 3 completions
    const steps = records([{ stage: 1, main: [], subs: [[stepOf(10)], [stepOf(10)]] }], []);
    // Act
    const m = computeJobMetrics({
      steps,
      spawned: 2,
      completed: 3,
      correct: 1,
      scored: 1,
      acceptedAt: '2026-12-01T00:00:00.000Z',
      finishedAt: '2026-12-01T00:00:00.020Z',
    });
    // Assess: r_parallel = 1 − 1/2 = 0.5; rPARL = 0.4·0.5 + 0.35·1 + 0.25·1 = 0.8
    expect(m.rFinish).toBe(1);
    expect(m.reward).toBeCloseTo(0.8, 12);
  });
});

function stepOf(ms: number): GenStep {
  return { ms, input: 0, cached: 0, output: 0, calls: 1, rateLimited: 0, waitedMs: 0 };
}
