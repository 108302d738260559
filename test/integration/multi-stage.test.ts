import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTrajectoriesCommand } from '#cli/commands/trajectories';
import { UsageError } from '#cli/flags';
import { EmbeddedStack } from '#local/runtime';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { criticalSteps, sequentialSteps } from '#shared/domain/measures';
import { parseJobRequest } from '#shared/domain/request';
import type { StepRecord } from '#shared/domain/types';
import type { Trajectory } from '#shared/use-cases/export-trajectories';

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
  let stack: EmbeddedStack;

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({
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

  it('exports a tenant’s finished jobs as trajectories, one JSON line each, oldest first', async () => {
    // Prepare: two jobs of one tenant (the first two-stage, with the policy), one of another tenant.
    const tenant = `traj-${randomUUID()}`;
    stack.simulator!.setFaults([{ match: 'What is 3 + 100?', status: 400, times: 1 }]);
    const req = (extra: Record<string, unknown>) =>
      parseJobRequest({ task: 'Sums', subtasks: sums(3), ...extra }, { maxSubagentsCap: 1000 });
    const first = await stack.run(
      req({ maxStages: 2, policy: 'learn', taskClass: 'traj', maxSubagents: 3, itemsPerAgent: 1 }),
      undefined,
      tenant,
    );
    await new Promise((r) => setTimeout(r, 5));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const second = await stack.run(req({}), undefined, tenant);
    await stack.run(req({}), undefined, `other-${randomUUID()}`);
    const lines: string[] = [];
    const command = createTrajectoriesCommand(
      () =>
        Promise.resolve({
          doc: createDynamoDocumentClient(stack.config),
          tableName: stack.config.tableName,
          close: () => Promise.resolve(),
        }),
      (line) => lines.push(line),
    );
    // Act
    expect(await command(['export', '--tenant', tenant])).toBe(0);
    // Assess
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    const all = lines.map((l) => JSON.parse(l) as Trajectory);
    expect(all.map((t) => t.jobId)).toEqual([first.job.jobId, second.job.jobId]);
    const [t1] = all as [Trajectory];
    expect(t1.actions).toMatchObject({
      stages: 2,
      agents: 4,
      policy: { mode: 'learn', pinned: ['width', 'itemsPerAgent'] },
      itemsPerAgent: 1,
    });
    expect(t1.state).toMatchObject({ taskClass: 'traj', subtasks: 3, limits: { maxSubagentsCap: 1000 } });
    expect(t1.stages.map((s) => s.stage)).toEqual([1, 2]);
    expect(t1.reward?.criticalSteps).toBe(t1.stages.reduce((n, s) => n + s.mainSteps + s.maxSubSteps, 0));
    expect(t1.reward?.criticalSteps).toBe(first.job.metrics?.criticalSteps);
    expect(t1.reward).toMatchObject({ rPARL: first.job.metrics?.reward, weights: { parallel: 0.4 } });
    // --since keeps the later job only; a bad date is a usage error.
    lines.length = 0;
    expect(await command(['export', '--tenant', tenant, '--since', between])).toBe(0);
    expect(lines.map((l) => (JSON.parse(l) as Trajectory).jobId)).toEqual([second.job.jobId]);
    await expect(command(['export', '--since', 'yesterday'])).rejects.toThrow(UsageError);
  });
});
