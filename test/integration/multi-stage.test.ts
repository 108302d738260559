import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalStack } from '#cdk/local/runtime';
import { criticalSteps, sequentialSteps } from '#shared/domain/measures';
import { parseJobRequest } from '#shared/domain/request';
import type { StepRecord } from '#shared/domain/types';

const sums = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `q${i + 1}`,
    prompt: `What is ${i + 1} + 100?`,
    expected: String(i + 101),
  }));

/** CriticalSteps by hand from the step records: per stage, main steps plus the longest sub-agent. */
function criticalByHand(steps: readonly StepRecord[]): { total: number; perStage: Map<number, number> } {
  const perStage = new Map<number, number>();
  for (const stage of new Set(steps.map((s) => s.stage))) {
    const own = steps.filter((s) => s.stage === stage);
    const main = own.filter((s) => s.role === 'main').length;
    const perAgent = new Map<string, number>();
    for (const s of own.filter((x) => x.role === 'sub'))
      perAgent.set(s.agentId, (perAgent.get(s.agentId) ?? 0) + 1);
    perStage.set(stage, main + Math.max(0, ...perAgent.values()));
  }
  return { total: [...perStage.values()].reduce((a, b) => a + b, 0), perStage };
}

/** Multi-stage jobs through the synthesized state machine: JobOutcome loops back to the Map. */
describe('a multi-stage job', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await LocalStack.start({
      simulator: { seed: 2, latencyScale: 0 },
      env: { PARL_LLM_MAX_RETRIES: '0' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => stack.simulator!.setFaults([]));

  it.each([
    ['inline', 4, 4, 'What is 3 + 100?', 1, 'INLINE'],
    ['distributed', 42, 41, '+ 100?', 41, 'DISTRIBUTED'],
  ])(
    're-dispatches failed subtasks in stage 2 (%s Map), and its CriticalSteps is the sum of its stages',
    async (_label, n, width, match, failing, mapMode) => {
      // Prepare: the provider refuses the first `failing` calls for good (400: not retried), so stage 1
      // loses those subtasks.
      stack.simulator!.setFaults([{ match, status: 400, times: failing }]);
      const request = parseJobRequest(
        { task: 'Sums', subtasks: sums(n), maxSubagents: width, maxStages: 2 },
        { maxSubagentsCap: 1000 },
      );
      // Act
      const { job, steps } = await stack.run(request);
      // Assess: two stages, the second ran only the failed subtasks and answered them.
      expect(job.status).toBe('SUCCEEDED');
      expect(job.plan).toMatchObject({ stage: 2, agents: failing, earlierAgents: n, mapMode });
      const m = job.metrics!;
      expect(m.stages?.map((s) => [s.stage, s.agents])).toEqual([
        [1, n],
        [2, failing],
      ]);
      const stage2 = steps.filter((s) => s.stage === 2 && s.role === 'sub');
      expect(stage2.every((s) => s.agentId.startsWith('s2-'))).toBe(true);
      expect(m.rPerf).toBe(1);
      expect(m.subagents).toEqual({ spawned: n + failing, completed: n });
      const byHand = criticalByHand(steps);
      expect(byHand.perStage.size).toBe(2);
      expect(m.criticalSteps).toBe(byHand.total);
      expect(m.criticalSteps).toBe(criticalSteps(steps));
      expect(m.criticalSteps).toBe((m.stages ?? []).reduce((sum, s) => sum + s.mainSteps + s.maxSubSteps, 0));
      expect(m.sequentialSteps).toBe(sequentialSteps(steps));
      expect(m.criticalSteps).toBe(3); // stage 1: 1 sub step; stage 2: 1 sub step + the synthesizer
    },
  );

  it('stops at maxStages even when a subtask still has no answer', async () => {
    stack.simulator!.setFaults([{ match: 'What is 2 + 100?', status: 400 }]);
    const request = parseJobRequest(
      { task: 'Sums', subtasks: sums(3), maxStages: 3 },
      { maxSubagentsCap: 1000 },
    );
    const { job, steps } = await stack.run(request);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.plan?.stage).toBe(3);
    expect(new Set(steps.map((s) => s.stage))).toEqual(new Set([1, 2, 3]));
    expect(job.metrics?.rPerf).toBeCloseTo(2 / 3, 9);
    expect(job.metrics?.subagents).toEqual({ spawned: 5, completed: 2 });
  });

  it('runs one stage by default', async () => {
    stack.simulator!.setFaults([{ match: 'What is 1 + 100?', status: 400, times: 1 }]);
    const request = parseJobRequest({ task: 'Sums', subtasks: sums(2) }, { maxSubagentsCap: 1000 });
    const { job } = await stack.run(request);
    expect(job.plan?.stage).toBe(1);
    expect(job.metrics?.subagents).toEqual({ spawned: 2, completed: 1 });
  });
});
