import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPolicyCommand } from '#cli/commands/policy';
import { createAggregateHandler } from '#lambdas/aggregate/handler';
import { type Simulator, startSimulator } from '#local/simulator/server';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { loadConfig } from '#shared/config';
import { DEFAULT_WEIGHTS } from '#shared/domain/measures';
import {
  JOB_METRICS,
  jobMetricPoints,
  METRICS_NAMESPACE,
  PROVIDER_METRICS,
  SERVICE_DIMENSION,
} from '#shared/domain/swarm-metrics';
import type { RewardWeights } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import { aggregateJob } from '#shared/use-cases/aggregate-job';
import { planJob } from '#shared/use-cases/plan-job';
import { getPolicies, learnFromJob } from '#shared/use-cases/policy';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { type WorkflowDeps, workflowDeps } from '#shared/wiring';
import { useDynaliteTable } from './dynalite-table';
import { captureEmf, type EmfDocument, lambdaTelemetry } from './emf.ts';
import { storeAcceptedJob } from './fixtures';

const REGION = 'us-east-1';

/** Sums with ground truth: every answer of the simulator is right, so every job is scored. */
const sums = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ prompt: `What is ${i} + 1?`, expected: String(i + 1) }));

/** The policy use cases and the DynamoDB policy store against dynalite and the simulator over HTTP. */
describe('the fan-out policy', () => {
  const table = useDynaliteTable();
  let sim: Simulator;
  let deps: WorkflowDeps;

  const accept = (tenantId: string, raw: Record<string, unknown>): Promise<JobRef> =>
    storeAcceptedJob(deps.store, tenantId, raw);

  /** Plays the workflow up to the Aggregate state: plan, then every sub-agent. */
  const planAndRun = async (ref: JobRef) => {
    const plan = await planJob(deps, ref);
    if (!plan.agents) throw new Error('these small jobs plan an inline Map, with the agents in the state');
    await Promise.all(
      plan.agents.map((a) =>
        runSubagent(deps, { ...ref, stage: 1, agentId: a.agentId, subtaskIds: a.subtaskIds }),
      ),
    );
    return plan;
  };

  beforeAll(async () => {
    sim = await startSimulator({ seed: 3, latencyScale: 0 });
    deps = await workflowDeps(
      loadConfig({
        TABLE_NAME: table.tableName,
        AWS_REGION: REGION,
        DYNAMODB_ENDPOINT: table.dynamo.endpoint,
        MOONSHOT_BASE_URL: sim.baseUrl,
        MOONSHOT_API_KEY: 'test',
        PARL_LLM_MAX_RETRIES: '0',
      }),
    );
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('loses no update when many aggregates of one task class finish at once', async () => {
    // Prepare: 12 jobs of one task class, planned and run, waiting for their Aggregate.
    const tenantId = `t-${randomUUID()}`;
    const refs = await Promise.all(
      Array.from({ length: 12 }, () =>
        accept(tenantId, { task: 'Sums', subtasks: sums(4), policy: 'learn', taskClass: 'sums' }),
      ),
    );
    await Promise.all(refs.map(planAndRun));
    // Act: every Aggregate at once, each teaching the same policy.
    const outs = await Promise.all(refs.map((ref) => aggregateJob(deps, { ...ref, stage: 1 })));
    // Assess: 12 updates, each job once, and the rewards add up to the jobs' own.
    expect(outs.every((o) => o.status === 'SUCCEEDED')).toBe(true);
    const policy = await deps.policies.get(tenantId, 'sums');
    expect(policy?.jobs).toBe(12);
    expect(policy?.version).toBe(12);
    expect(Object.values(policy?.stats ?? {}).reduce((n, s) => n + s.n, 0)).toBe(12);
    expect(new Set(policy?.appliedJobs)).toEqual(new Set(refs.map((r) => r.jobId)));
    const jobs = await Promise.all(refs.map((r) => deps.store.getJob(r)));
    const rewards = jobs.map((j) => j?.metrics?.reward ?? Number.NaN);
    const storedSum = Object.values(policy?.stats ?? {}).reduce((n, s) => n + s.sum, 0);
    expect(storedSum).toBeCloseTo(
      rewards.reduce((a, b) => a + b, 0),
      9,
    );
    expect(jobs.every((j) => j?.metrics?.policy?.trained === true)).toBe(true);
  });

  it("keeps the plan within the tenant's cap on sub-agents, with and without a policy", async () => {
    // Prepare: a tenant capped at 3 sub-agents at once; 12 subtasks each
    const tenantId = `t-${randomUUID()}`;
    const submit = (raw: Record<string, unknown>) =>
      storeAcceptedJob(deps.store, tenantId, raw, { maxWidth: 3 });
    // Act: a default job, then jobs that learn (an untried arm each time: w1, w2, then the widest allowed)
    const plain = await planJob(deps, await submit({ task: 'Sums', subtasks: sums(12) }));
    const learned = [];
    for (let i = 0; i < 4; i++) {
      const ref = await submit({ task: 'Sums', subtasks: sums(12), policy: 'learn', taskClass: 'capped' });
      await planAndRun(ref);
      await aggregateJob(deps, { ...ref, stage: 1 });
      learned.push(await deps.store.getJob(ref));
    }
    // Assess
    expect(plain.maxConcurrency).toBe(3);
    const widths = learned.map((j) => j?.plan?.policy?.width ?? 0);
    expect(Math.max(...widths)).toBeLessThanOrEqual(3);
    expect(new Set(learned.map((j) => j?.plan?.policy?.armId)).size).toBeGreaterThan(1);
    const policy = await deps.policies.get(tenantId, 'capped');
    expect(Object.keys(policy?.stats ?? {}).every((id) => Number(/^w(\d+)/.exec(id)?.[1]) <= 3)).toBe(true);
  });

  it("anneals λ1 and λ2 over the tenant's own number of jobs, and records the λ each job was scored with", async () => {
    // Prepare: a tenant that anneals over 2 jobs (the service default is off)
    const tenantId = `t-${randomUUID()}`;
    const run = async (annealJobs?: number, weights?: RewardWeights) => {
      const job = await storeAcceptedJob(
        deps.store,
        tenantId,
        { task: 'Sums', subtasks: sums(4), policy: 'learn', taskClass: 'annealed' },
        {
          ...(annealJobs === undefined ? {} : { annealJobs }),
          ...(weights === undefined ? {} : { weights }),
        },
      );
      await planAndRun(job);
      await aggregateJob(deps, { ...job, stage: 1 });
      return (await deps.store.getJob(job))?.metrics;
    };
    // Act
    const metrics = [await run(2), await run(2), await run(2), await run()];
    const weights = metrics.map((m) => m?.weights);
    const own = await run(undefined, { parallel: 0.2, finish: 0.2, perf: 0.6 });
    // Assess: full λ, half, then 0 (λ3 stays); a job without the tenant's setting is not annealed
    expect(weights[0]).toEqual(DEFAULT_WEIGHTS);
    expect(weights[1]?.parallel).toBeCloseTo(DEFAULT_WEIGHTS.parallel / 2, 12);
    expect(weights[1]?.finish).toBeCloseTo(DEFAULT_WEIGHTS.finish / 2, 12);
    expect(weights[2]).toEqual({ parallel: 0, finish: 0, perf: DEFAULT_WEIGHTS.perf });
    expect(weights[3]).toEqual(DEFAULT_WEIGHTS);
    // The tenant's own λ score the job: rPARL recomputes from its parts with them
    expect(own?.weights).toEqual({ parallel: 0.2, finish: 0.2, perf: 0.6 });
    expect(own?.reward).toBeCloseTo(0.2 * own!.rParallel + 0.2 * own!.rFinish + 0.6 * own!.rPerf!, 12);
  });

  it('counts a retried update of the same job once', async () => {
    const tenantId = `t-${randomUUID()}`;
    const policy = {
      taskClass: 'c',
      mode: 'learn' as const,
      armId: 'w2',
      width: 2,
      itemsPerAgent: 2,
      pinned: [],
    };
    const input = { tenantId, jobId: 'job-1', policy, subtasks: 4, reward: 0.8, rPerf: 1 };
    await Promise.all([learnFromJob(deps, input), learnFromJob(deps, input), learnFromJob(deps, input)]);
    const stored = await deps.policies.get(tenantId, 'c');
    expect(stored?.jobs).toBe(1);
    expect(stored?.stats.w2).toEqual({ n: 1, sum: 0.8, sumSq: 0.8 * 0.8 });
  });

  it('plans from the policy, lets a pinned width win, and the pinned job still teaches', async () => {
    const tenantId = `t-${randomUUID()}`;
    // A pinned job: width 2 and one subtask each over 4 subtasks.
    const pinned = await accept(tenantId, {
      task: 'Sums',
      subtasks: sums(4),
      policy: 'learn',
      taskClass: 'pins',
      maxSubagents: 2,
      itemsPerAgent: 1,
    });
    const plan = await planAndRun(pinned);
    expect(plan.maxConcurrency).toBe(2);
    expect(plan.agents).toHaveLength(4);
    const planned = await deps.store.getJob(pinned);
    expect(planned?.plan?.policy).toMatchObject({
      pinned: ['width', 'itemsPerAgent'],
      width: 2,
      itemsPerAgent: 1,
    });
    await aggregateJob(deps, { ...pinned, stage: 1 });
    const [view] = await getPolicies(deps, tenantId, 'pins');
    // width 2 with one subtask each matches no even-share arm over 4 subtasks: it gets its own arm.
    expect(view?.arms.find((a) => a.id === 'w2k1')).toMatchObject({ count: 1, width: 2, itemsPerAgent: 1 });
    expect(view?.jobs).toBe(1);
  });

  it('does not train on an unscored job', async () => {
    const tenantId = `t-${randomUUID()}`;
    const ref = await accept(tenantId, {
      task: 'Sums',
      subtasks: ['What is 1 + 1?', 'What is 2 + 2?'],
      policy: 'learn',
      taskClass: 'unscored',
    });
    await planAndRun(ref);
    await aggregateJob(deps, { ...ref, stage: 1 });
    expect(await deps.policies.get(tenantId, 'unscored')).toBeUndefined();
    expect((await deps.store.getJob(ref))?.metrics).toMatchObject({
      reward: null,
      policy: { trained: false, taskClass: 'unscored' },
    });
  });

  it('anneals λ1 and λ2 over the policy’s jobs when configured', async () => {
    const tenantId = `t-${randomUUID()}`;
    const annealing = { ...deps, config: { ...deps.config, policy: { annealJobs: 2, seed: 1 } } };
    const weights = [];
    for (let i = 0; i < 3; i++) {
      const ref = await accept(tenantId, {
        task: 'Sums',
        subtasks: sums(2),
        policy: 'greedy',
        taskClass: 'anneal',
      });
      await planAndRun(ref);
      await aggregateJob(annealing, { ...ref, stage: 1 });
      weights.push((await deps.store.getJob(ref))?.metrics?.weights);
    }
    expect(weights).toEqual([
      { parallel: 0.4, finish: 0.35, perf: 0.25 },
      { parallel: 0.2, finish: 0.175, perf: 0.25 },
      { parallel: 0, finish: 0, perf: 0.25 },
    ]);
  });

  it('shows the policies through `parl policy show --json` with an injected table opener', async () => {
    const tenantId = `t-${randomUUID()}`;
    const policy = {
      taskClass: 'shown',
      mode: 'learn' as const,
      armId: 'w4',
      width: 4,
      itemsPerAgent: 1,
      pinned: [],
    };
    await learnFromJob(deps, { tenantId, jobId: 'a', policy, subtasks: 4, reward: 0.9, rPerf: 1 });
    await learnFromJob(deps, { tenantId, jobId: 'b', policy, subtasks: 4, reward: 0.7, rPerf: 1 });
    const closed = vi.fn(() => Promise.resolve());
    const opened: string[] = [];
    const command = createPolicyCommand((dataDir) => {
      opened.push(dataDir);
      return Promise.resolve({
        doc: createDynamoDocumentClient(deps.config),
        tableName: table.tableName,
        close: closed,
      });
    });
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await command(['show', '--tenant', tenantId, '--json', '--data-dir', 'some/dir'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const doc = JSON.parse(out.join('')) as { tenantId: string; policies: { arms: { id: string }[] }[] };
    expect(doc.tenantId).toBe(tenantId);
    expect(doc.policies[0]).toMatchObject({ taskClass: 'shown', jobs: 2, bestArm: 'w4' });
    const w4 = (doc.policies[0]?.arms ?? []).find((a) => a.id === 'w4') as unknown as {
      count: number;
      meanReward: number;
    };
    expect(w4.count).toBe(2);
    expect(w4.meanReward).toBeCloseTo(0.8, 9);
    expect(closed).toHaveBeenCalledOnce();
    expect(opened).toEqual([resolve('some/dir')]);
  });

  it("emits a finished job's metrics once through Powertools: names, units, the service dimension, its values", async () => {
    // Prepare: four subtasks batched onto one sub-agent in parl mode: a serial collapse.
    const ref = await accept(`t-${randomUUID()}`, { task: 'Sums', subtasks: sums(4), itemsPerAgent: 4 });
    const plan = await planAndRun(ref);
    expect(plan.agents).toHaveLength(1);
    const aggregate = createAggregateHandler(
      () => Promise.resolve(deps),
      createLogger('SILENT'),
      lambdaTelemetry(),
    );
    const context = {
      functionName: 'aggregate',
      awsRequestId: 'r',
      getRemainingTimeInMillis: () => 60_000,
    } as Context;
    // Act: the aggregate runs, then is retried.
    const documents = await captureEmf(async () => {
      await aggregate({ ...ref, stage: 1 }, context);
      await aggregate({ ...ref, stage: 1 }, context);
    });
    // Assess: one document, for the one call that closed the job, with the stored job's measures.
    expect(documents).toHaveLength(1);
    const [doc] = documents as [EmfDocument];
    const metrics = (await deps.store.getJob(ref))?.metrics;
    expect(metrics?.flags).toEqual({ serialCollapse: true, spuriousParallelism: false });
    const [directive] = doc._aws.CloudWatchMetrics;
    expect(directive).toMatchObject({ Namespace: METRICS_NAMESPACE, Dimensions: [[SERVICE_DIMENSION]] });
    const expected = jobMetricPoints(metrics!);
    expect(directive?.Metrics).toEqual(
      expect.arrayContaining(expected.map((p) => expect.objectContaining({ Name: p.name, Unit: p.unit }))),
    );
    // …and the synthesizer's model call, counted in the same document.
    expect(directive?.Metrics.map((m) => m.Name).sort()).toEqual(
      [...expected.map((p) => p.name), ...Object.values(PROVIDER_METRICS)].sort(),
    );
    expect(doc).toMatchObject({
      [SERVICE_DIMENSION]: 'parl-swarm',
      [JOB_METRICS.jobsFinished]: 1,
      [JOB_METRICS.serialCollapse]: 1,
      [JOB_METRICS.spuriousParallelism]: 0,
      [JOB_METRICS.criticalSteps]: metrics?.criticalSteps,
      [JOB_METRICS.overhead]: metrics?.overhead,
      [JOB_METRICS.rFinish]: metrics?.rFinish,
      [JOB_METRICS.rParl]: metrics?.reward,
      [JOB_METRICS.outputTokens]: metrics?.tokens.output,
      [JOB_METRICS.costUsd]: metrics?.costUsd,
      [JOB_METRICS.rateLimited]: metrics?.provider?.rateLimited,
      jobId: ref.jobId,
      tenantId: ref.tenantId,
    });
    expect(metrics?.criticalSteps).toBeGreaterThan(0);
  });

  it('lowers the budget with TOGGLE once the class’s r_perf is high and stable, unless the request pins it', async () => {
    // Prepare: three earlier scored jobs of the class, all with r_perf 1.
    const tenantId = `t-${randomUUID()}`;
    const policy = {
      taskClass: 'tg',
      mode: 'greedy' as const,
      armId: 'w4',
      width: 4,
      itemsPerAgent: 1,
      pinned: [],
    };
    for (const jobId of ['a', 'b', 'c']) {
      await learnFromJob(deps, { tenantId, jobId, policy, subtasks: 4, reward: 0.9, rPerf: 1 });
    }
    const toggled = await accept(tenantId, {
      task: 'Sums',
      subtasks: sums(4),
      policy: 'greedy',
      taskClass: 'tg',
    });
    const pinned = await accept(tenantId, {
      task: 'Sums',
      subtasks: sums(4),
      policy: 'greedy',
      taskClass: 'tg',
      maxOutputTokens: 1000,
    });
    // Act
    for (const ref of [toggled, pinned]) {
      await planAndRun(ref);
      await aggregateJob(deps, { ...ref, stage: 1 });
    }
    // Assess: 0.7·B for the first, B for the pinned one; tokens saved per sub-agent call.
    const [a, b] = await Promise.all([deps.store.getJob(toggled), deps.store.getJob(pinned)]);
    expect(a?.plan?.budget).toMatchObject({ fullBudget: 1000, budget: 700, reduced: true });
    expect(a?.metrics?.toggle).toEqual({
      fullBudget: 1000,
      budget: 700,
      reduced: true,
      tokensSaved: 300 * 4,
    });
    expect(b?.plan?.budget).toMatchObject({ budget: 1000, reduced: false, reason: 'pinned by the request' });
    expect(b?.metrics?.toggle?.tokensSaved).toBe(0);
  });
});
