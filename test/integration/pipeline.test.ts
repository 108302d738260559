import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jsonReport } from '#cli/main';
import { EmbeddedStack, LOCAL_BUDGET_USD, LOCAL_TENANT } from '#local/runtime';
import { computeJobMetrics } from '#shared/domain/measures';
import { parseJobRequest } from '#shared/domain/request';
import { usagePeriod } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
import { generateInstallations } from '#shared/domain/workloads/bma/data';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import { evaluateInstallation } from '#shared/domain/workloads/bma/rules';

const cap = { maxSubagentsCap: 1000 };
const demo = (n: number, extra: Record<string, unknown> = {}) =>
  parseJobRequest({ ...bmaDemoRequest(n, 5), ...extra }, cap);

/** Recomputes every step-derived measure from a report's `steps`, as a user of `--json` would. */
function recompute(report: ReturnType<typeof jsonReport>) {
  const m = report.metrics!;
  return computeJobMetrics({
    steps: report.steps as StepRecord[],
    spawned: m.subagents.spawned,
    completed: m.subagents.completed,
    correct: Math.round((m.rPerf ?? 0) * (report.result?.summary.scored ?? 0)),
    scored: report.result?.summary.scored ?? 0,
    acceptedAt: report.acceptedAt,
    finishedAt: report.finishedAt!,
    weights: m.weights,
  });
}

describe('the local runtime running the synthesized state machine', () => {
  let stack: EmbeddedStack;

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({
      simulator: { seed: 3, latencyScale: 0 },
      // One retry of a model call, at the client (the only retry layer), after a short pause; the
      // circuit that the failing tests open closes again at once (the next call is its probe).
      env: { PARL_LLM_MAX_RETRIES: '1', PARL_LLM_BACKOFF_BASE_MS: '10', PARL_PROVIDER_BREAKER_OPEN_MS: '1' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    stack.simulator!.setFaults([]);
  });

  it('reserves and settles a local run on the local tenant, like any other job', async () => {
    // Prepare: the local tenant, made by the first run that needs it (earlier tests may have run)
    const before = await stack.tenants.getTenant(LOCAL_TENANT);
    const period = usagePeriod(new Date().toISOString());
    const usageBefore = await stack.ledger.usage(LOCAL_TENANT, period);
    // Act
    const { job } = await stack.run(demo(4));
    // Assess: the job's cost moved from available to spent once, nothing stays held, one usage record
    const after = await stack.tenants.getTenant(LOCAL_TENANT);
    const usage = await stack.ledger.usage(LOCAL_TENANT, period);
    expect(job.status).toBe('SUCCEEDED');
    expect(after).toMatchObject({ status: 'ACTIVE', budgetUsd: LOCAL_BUDGET_USD });
    const cost = job.metrics?.costUsd ?? 0;
    expect(cost).toBeGreaterThan(0);
    expect((after?.spentUsd ?? 0) - (before?.spentUsd ?? 0)).toBeCloseTo(cost, 6);
    expect(after?.reservedUsd).toBeCloseTo(0, 6);
    expect(after?.availableUsd).toBeCloseTo(LOCAL_BUDGET_USD - (after?.spentUsd ?? 0), 6);
    expect(usage.jobs - usageBefore.jobs).toBe(1);
    expect(usage.costUsd - usageBefore.costUsd).toBeCloseTo(cost, 6);
    // the job's cost on AWS is reported beside its tokens' (not charged), in its metrics and usage
    const aws = job.metrics?.awsCostUsd ?? 0;
    expect(aws).toBeGreaterThan(0);
    expect(job.metrics?.aws?.lambdaRequests).toBe(3 + 4 + 1);
    expect(job.metrics?.totalCostUsd).toBeCloseTo(cost + aws, 8);
    expect((usage.awsCostUsd ?? 0) - (usageBefore.awsCostUsd ?? 0)).toBeCloseTo(aws, 8);
    expect(job.maxWidth).toBe(stack.config.maxSubagentsCap);
  });

  it('runs a job for another tenant id as a local tenant of its own, with its own money', async () => {
    // Act
    const { job } = await stack.run(demo(2), undefined, 'bench-tenant');
    // Assess
    const tenant = await stack.tenants.getTenant('bench-tenant');
    expect(job.status).toBe('SUCCEEDED');
    expect(tenant?.spentUsd).toBeCloseTo(job.metrics?.costUsd ?? -1, 6);
  });

  it('runs the demo in parl mode to SUCCEEDED with measures that recompute from the steps', async () => {
    // Prepare
    const request = demo(20);
    // Act
    const outcome = await stack.run(request);
    const report = jsonReport(outcome);
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(report.plan).toMatchObject({ agents: 20, maxConcurrency: 20, mapMode: 'INLINE' });
    expect(report.steps).toHaveLength(20 * 2 + 1);
    expect(report.steps.every((s) => s.attempt === 1 && s.status === 'SUCCEEDED')).toBe(true);
    const m = report.metrics!;
    expect(m.criticalSteps).toBe(3);
    expect(m.sequentialSteps).toBe(41);
    expect(m.rFinish).toBe(1);
    expect(m.rPerf).toBe(1);
    const again = recompute(report);
    // The provider summary (provider, model, limits, calls) comes from the configuration, not the
    // measures; the AWS cost from the cost model (test/unit/aws-cost.test.ts), on top of the token cost.
    const { aws, awsCostUsd, totalCostUsd } = m;
    expect({
      ...again,
      wallClockMs: m.wallClockMs,
      overhead: m.overhead,
      provider: m.provider,
      aws,
      awsCostUsd,
      totalCostUsd,
    }).toEqual(m);
    expect(totalCostUsd).toBeCloseTo(m.costUsd + (awsCostUsd ?? Number.NaN), 8);
    expect(m.provider).toMatchObject({ name: 'moonshot', calls: 41, retries: 0, rateLimited: 0 });
    expect(m.overhead).toBeCloseTo(m.wallClockMs / m.criticalPathMs, 12);
  });

  it('scores r_perf against the ground truth when the model errs', async () => {
    // Prepare: a second stack whose simulated model flips a quarter of the verdicts.
    const noisy = await EmbeddedStack.boot({
      simulator: { seed: 9, latencyScale: 0, verdictErrorRate: 0.25 },
    });
    try {
      // Act
      const { job } = await noisy.run(demo(40));
      const results = await noisy.store.listResults(job);
      // Assess: r_perf is exactly the share of stored verdicts that match the generator's truth.
      const truth = new Map(generateInstallations(40, 5).map((i) => [i.id, evaluateInstallation(i).verdict]));
      const correct = results.filter((r) => r.verdict === truth.get(r.subtaskId)).length;
      expect(job.metrics!.rPerf).toBe(correct / 40);
      expect(correct).toBeLessThan(40);
      expect(correct).toBeGreaterThan(20);
    } finally {
      await noisy.close();
    }
  });

  it('runs sequential mode as one agent: CriticalSteps equals SequentialSteps', async () => {
    const { job, steps } = await stack.run(demo(8, { mode: 'sequential' }));
    expect(job.status).toBe('SUCCEEDED');
    expect(job.plan).toMatchObject({ agents: 1, maxConcurrency: 1 });
    expect(new Set(steps.filter((s) => s.role === 'sub').map((s) => s.agentId)).size).toBe(1);
    expect(job.metrics!.criticalSteps).toBe(job.metrics!.sequentialSteps);
    expect(job.metrics!.rParallel).toBe(0);
    expect(job.metrics!.stepSpeedup).toBe(1);
  });

  it('runs above 40 sub-agents at once through the Distributed Map', async () => {
    const { job } = await stack.run(demo(45));
    expect(job.plan).toMatchObject({ mapMode: 'DISTRIBUTED', maxConcurrency: 45 });
    expect(job.status).toBe('SUCCEEDED');
    expect(job.metrics!.subagents).toEqual({ spawned: 45, completed: 45 });
  });

  it('tolerates a sub-agent that keeps failing: r_finish drops, the job succeeds, the reason is kept', async () => {
    // Prepare: every model call about BMA-0003 answers 500, through all retries.
    stack.simulator!.setFaults([{ match: 'BMA-0003', status: 500 }]);
    // Act
    const { job, steps } = await stack.run(demo(10));
    // Assess
    expect(job.status).toBe('SUCCEEDED');
    expect(job.metrics!.subagents).toEqual({ spawned: 10, completed: 9 });
    expect(job.metrics!.rFinish).toBeCloseTo(0.9, 12);
    expect(job.metrics!.rPerf).toBeLessThanOrEqual(0.9);
    expect(job.result!.failedAgents).toEqual([
      { agentId: 'agent-0003', error: expect.stringContaining('500') },
    ]);
    // The failing agent's step is stored once: the client made 1 + 1 calls; Step Functions retried nothing.
    const failing = steps.filter((s) => s.agentId === 'agent-0003');
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatchObject({ status: 'FAILED', attempt: 1, calls: 2 });
  });

  it('does not record a step twice when a model call is retried, and loses no token', async () => {
    // Prepare: the second model call of agent-0004 (the one that carries its tool results) fails once.
    stack.simulator!.setFaults([{ match: 'BMA-0004-D1', status: 503, times: 1 }]);
    stack.simulator!.resetStats();
    // Act
    const { job, steps } = await stack.run(demo(6));
    // Assess: the client retried the call; the step is recorded once, with the two calls it took.
    expect(job.status).toBe('SUCCEEDED');
    const keys = steps.map((s) => `${s.stage}/${s.role}/${s.agentId}/${s.step}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(steps).toHaveLength(6 * 2 + 1);
    const retried = steps.filter((s) => s.agentId === 'agent-0004');
    expect(retried.map((s) => [s.attempt, s.calls])).toEqual([
      [1, 1],
      [1, 2],
    ]);
    // Every token the provider handed out is in the metrics: the failed try handed out none.
    const stats = stack.simulator!.stats();
    expect(stats.byStatus['503']).toBe(1);
    expect(job.metrics!.tokens).toEqual({
      input: stats.promptTokens,
      output: stats.completionTokens,
      cachedInput: stats.cachedTokens,
    });
    expect(job.metrics!.provider).toMatchObject({ calls: 14, retries: 1 });
  });

  it('ends FAILED with its steps and a reason when every sub-agent fails', async () => {
    stack.simulator!.setFaults([{ match: 'get_installation', status: 500 }]);
    const { job, steps } = await stack.run(demo(4));
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/all 4 sub-agents failed/);
    expect(job.metrics!.rFinish).toBe(0);
    expect(steps.filter((s) => s.role === 'sub')).toHaveLength(4);
  });

  it('fails fast on a 403 insufficient balance: no retry storm', async () => {
    // Prepare
    stack.simulator!.setFaults([{ match: 'get_installation', status: 403 }]);
    stack.simulator!.resetStats();
    // Act
    const { job } = await stack.run(demo(5));
    // Assess: one call per sub-agent, none retried, the provider's message in the job's error.
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/403/);
    expect(job.error).toMatch(/insufficient balance/i);
    expect(stack.simulator!.stats().byStatus['403']).toBe(5);
  });

  it('decomposes a free-text task with one orchestrator call and reports it unscored', async () => {
    const { job, steps } = await stack.run(
      parseJobRequest({ task: 'Compare 6 companies by revenue growth' }, cap),
    );
    expect(job.status).toBe('SUCCEEDED');
    expect(job.plan).toMatchObject({ decomposedBy: 'orchestrator', subtasks: 6, agents: 6 });
    expect(
      steps
        .filter((s) => s.role === 'main')
        .map((s) => s.agentId)
        .sort(),
    ).toEqual(['planner', 'synthesizer']);
    expect(job.metrics!.criticalSteps).toBe(3);
    expect(job.metrics!.rPerf).toBeNull();
    expect(job.metrics!.reward).toBeNull();
  });

  it('scores generic subtasks that carry ground truth', async () => {
    const request = parseJobRequest(
      {
        task: 'Do the sums',
        subtasks: [
          { prompt: 'What is 12 + 30?', expected: '42' },
          { prompt: 'What is 7 * 6?', expected: '42' },
          { prompt: 'What is 100 - 1?', expected: '98' },
        ],
      },
      cap,
    );
    const { job } = await stack.run(request);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.metrics!.rPerf).toBeCloseTo(2 / 3, 12);
  });
});
