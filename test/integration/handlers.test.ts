import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Context } from 'aws-lambda';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAggregateHandler } from '#lambdas/aggregate/handler';
import { createPlanHandler } from '#lambdas/plan/handler';
import { createSubagentHandler } from '#lambdas/subagent/handler';
import { type Simulator, startSimulator } from '#local/simulator/server';
import { createS3Client } from '#shared/adapters/aws/clients';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { loadConfig } from '#shared/config';
import { jobIdForKey } from '#shared/domain/idempotency';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';
import type { JobRef } from '#shared/ports/job-store';
import { acceptJob } from '#shared/use-cases/accept-job';
import { createTenant } from '#shared/use-cases/tenants';
import { apiDeps, type WorkflowDeps, workflowDeps } from '#shared/wiring';
import { useDynaliteTable } from './dynalite-table';
import { storeAcceptedJob } from './fixtures';

const REGION = 'us-east-1';
const context = {
  functionName: 'test',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 60_000,
} as Context;
const logger = createLogger('SILENT');

/** The handlers called directly, as Lambda would, against dynalite and the simulator over HTTP. */
describe('the Lambda handlers', () => {
  const table = useDynaliteTable();
  let sim: Simulator;
  let deps: WorkflowDeps;
  /** fauxqs S3: where the plan puts a Distributed Map's items. */
  let fauxqs: FauxqsServer;
  let s3: S3Client;

  const depsWith = async (env: Record<string, string> = {}) =>
    workflowDeps(
      loadConfig({
        TABLE_NAME: table.tableName,
        AWS_REGION: REGION,
        DYNAMODB_ENDPOINT: table.dynamo.endpoint,
        MOONSHOT_BASE_URL: sim.baseUrl,
        MOONSHOT_API_KEY: 'test',
        PARL_LLM_MAX_RETRIES: '0',
        S3_ENDPOINT: fauxqs.address,
        ITEMS_BUCKET: 'items',
        ...env,
      }),
    );
  /** Accepts a job without starting a workflow: the test plays the state machine. */
  const accept = (raw: Record<string, unknown>): Promise<JobRef> =>
    storeAcceptedJob(deps.store, 'tenant-a', raw);

  beforeAll(async () => {
    sim = await startSimulator({ seed: 4, latencyScale: 0 });
    fauxqs = await startFauxqs({ port: 0, logger: false });
    s3 = createS3Client({ region: REGION, s3Endpoint: fauxqs.address });
    await s3.send(new CreateBucketCommand({ Bucket: 'items' }));
    deps = await depsWith();
  });
  afterAll(async () => {
    s3?.destroy();
    await fauxqs?.stop();
    await sim?.close();
  });
  beforeEach(() => sim.setFaults([]));

  describe('plan', () => {
    const plan = () => createPlanHandler(() => Promise.resolve(deps), logger);

    it('takes explicit subtasks without a model call and picks the width', async () => {
      const ref = await accept({
        task: 'Sums',
        subtasks: ['1 + 1', '2 + 2', '3 + 3', '4 + 4', '5 + 5'],
        maxSubagents: 2,
      });
      const out = await plan()(ref, context);
      expect(out).toMatchObject({ stage: 1, maxConcurrency: 2, mapMode: 'INLINE' });
      expect(out.agents?.map((a) => a.subtaskIds)).toEqual([
        ['S-0001'],
        ['S-0002'],
        ['S-0003'],
        ['S-0004'],
        ['S-0005'],
      ]);
      expect(await deps.steps.listSteps(ref)).toEqual([]);
      expect(await deps.store.getJob(ref)).toMatchObject({
        status: 'RUNNING',
        plan: { decomposedBy: 'request' },
      });
    });

    it.each([
      [40, 'INLINE'],
      [41, 'DISTRIBUTED'],
    ])('runs %i sub-agents at once in an %s Map', async (width, mode) => {
      const subtasks = Array.from({ length: 41 }, (_, i) => `${i} + 1`);
      const ref = await accept({ task: 'Sums', subtasks, maxSubagents: width });
      expect(await plan()(ref, context)).toMatchObject({ maxConcurrency: width, mapMode: mode });
    });

    it('puts a Distributed Map’s assignments in S3 for its ItemReader, not in the state', async () => {
      // Prepare
      const subtasks = Array.from({ length: 41 }, (_, i) => `${i} + 1`);
      const ref = await accept({ task: 'Sums', subtasks, maxSubagents: 41 });
      // Act
      const out = await plan()(ref, context);
      // Assess
      const key = `items/${ref.tenantId}/${ref.jobId}/stage-1.json`;
      expect(out).not.toHaveProperty('agents');
      expect(out.items).toEqual({ bucket: 'items', key });
      const object = await s3.send(new GetObjectCommand({ Bucket: 'items', Key: key }));
      const items = JSON.parse((await object.Body?.transformToString()) ?? '[]') as {
        subtaskIds: string[];
      }[];
      expect(items.flatMap((a) => a.subtaskIds)).toEqual(
        subtasks.map((_, i) => `S-${String(i + 1).padStart(4, '0')}`),
      );
    });

    it('names ITEMS_BUCKET when a Distributed Map has nowhere to put its items', async () => {
      const noItems = await depsWith({ ITEMS_BUCKET: '' });
      const ref = await accept({
        task: 'Sums',
        subtasks: Array.from({ length: 41 }, (_, i) => `${i}`),
        maxSubagents: 41,
      });
      await expect(createPlanHandler(() => Promise.resolve(noItems), logger)(ref, context)).rejects.toThrow(
        'ITEMS_BUCKET',
      );
    });

    it('gives the sequential mode one agent with every subtask', async () => {
      const ref = await accept({ task: 'Sums', subtasks: ['1 + 1', '2 + 2'], mode: 'sequential' });
      const out = await plan()(ref, context);
      expect(out.agents).toEqual([{ agentId: 'agent-0001', subtaskIds: ['S-0001', 'S-0002'] }]);
      expect(out.maxConcurrency).toBe(1);
    });

    it('decomposes a free-text task with one recorded orchestrator step', async () => {
      const ref = await accept({ task: 'Compare 4 cities by rainfall' });
      const out = await plan()(ref, context);
      expect(out.agents).toHaveLength(4);
      expect(await deps.store.listSubtasks(ref)).toHaveLength(4);
      const steps = await deps.steps.listSteps(ref);
      expect(steps).toMatchObject([
        { role: 'main', agentId: 'planner', step: 1, attempt: 1, status: 'SUCCEEDED' },
      ]);
      expect(steps[0]!.inputTokens).toBeGreaterThan(0);
    });

    it('fails with PlanError after a repair turn when the model keeps answering invalid JSON', async () => {
      // Prepare: the provider answers 200 with prose instead of the JSON plan, twice.
      const completion = {
        id: 'x',
        object: 'chat.completion',
        created: 0,
        model: 'kimi-k2.5',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'Sure! Here is my plan: do it.' },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 50, completion_tokens: 8, total_tokens: 58 },
      };
      sim.setFaults([{ match: 'Summarise 3 reports', status: 200, body: completion, times: 2 }]);
      const ref = await accept({ task: 'Summarise 3 reports' });
      // Act & Assess
      await expect(plan()(ref, context)).rejects.toMatchObject({ name: 'PlanError' });
      const steps = await deps.steps.listSteps(ref);
      expect(steps.map((s) => [s.agentId, s.step, s.outputTokens])).toEqual([
        ['planner', 1, 8],
        ['planner', 2, 8],
      ]);
    });
  });

  describe('subagent', () => {
    it('records each step once when Lambda runs it again (attempt 2 overwrites attempt 1)', async () => {
      // Prepare
      const ref = await accept(bmaDemoRequest(2, 4));
      const subagent = createSubagentHandler(() => Promise.resolve(deps), logger);
      const event = { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['BMA-0001'] };
      // Act: the same invocation twice, as a retried Lambda would.
      const first = await subagent(event, context);
      const second = await subagent(event, context);
      // Assess
      expect(first).toEqual({ agentId: 'agent-0001', status: 'SUCCEEDED', answered: 1, failed: 0 });
      expect(second).toEqual(first);
      const steps = await deps.steps.listSteps(ref);
      expect(steps.map((s) => [s.step, s.attempt, s.toolCalls ?? []])).toEqual([
        [1, 2, ['get_installation', 'list_rules']],
        [2, 2, []],
      ]);
      expect(await deps.store.listResults(ref)).toHaveLength(1);
      expect(await deps.steps.listAgents(ref)).toMatchObject([
        { agentId: 'agent-0001', attempt: 2, stepCount: 2 },
      ]);
    });

    it('waits for the bookkeeping of its own calls before it returns, also when it fails', async () => {
      // Prepare: a model client whose answers carry bookkeeping that ends only when the test says
      // so; agent-0002's second subtask fails at the provider (503) after its first was answered
      sim.setFaults([{ match: 'BMA-0003', status: 503 }]);
      const ref = await accept(bmaDemoRequest(3, 4));
      const release = Promise.withResolvers<void>();
      let answered = 0;
      const llm = {
        model: deps.llm.model,
        chat: async (request: Parameters<typeof deps.llm.chat>[0]) => {
          const response = await deps.llm.chat(request);
          answered += 1;
          return { ...response, settling: release.promise };
        },
      };
      const subagent = createSubagentHandler(() => Promise.resolve({ ...deps, llm }), logger);
      const ended: string[] = [];
      // Act
      const ok = subagent(
        { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['BMA-0001'] },
        context,
      ).then((out) => {
        ended.push('agent-0001');
        return out;
      });
      const failing = subagent(
        { ...ref, stage: 1, agentId: 'agent-0002', subtaskIds: ['BMA-0002', 'BMA-0003'] },
        context,
      ).catch((error: unknown) => {
        ended.push('agent-0002');
        return error;
      });
      // Both agents' records are stored (agent-0002 failed) before the bookkeeping ends
      await vi.waitFor(async () =>
        expect(await deps.steps.listAgents(ref)).toEqual([
          expect.objectContaining({ agentId: 'agent-0001', status: 'SUCCEEDED' }),
          expect.objectContaining({ agentId: 'agent-0002', status: 'FAILED' }),
        ]),
      );
      expect(answered).toBeGreaterThanOrEqual(2);
      await new Promise((r) => setTimeout(r, 20));
      // Assess: neither returned while the bookkeeping of its answered calls was on its way
      expect(ended).toEqual([]);
      release.resolve();
      expect(await ok).toMatchObject({ status: 'SUCCEEDED' });
      expect(await failing).toMatchObject({ name: 'TransientError' });
    });

    it('fails the subtask, not the invocation, when the step budget is spent', async () => {
      const tight = await depsWith({ PARL_SUBAGENT_STEP_BUDGET: '1' });
      const ref = await accept(bmaDemoRequest(1, 4));
      const out = await createSubagentHandler(() => Promise.resolve(tight), logger)(
        { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['BMA-0001'] },
        context,
      );
      expect(out).toEqual({ agentId: 'agent-0001', status: 'FAILED', answered: 0, failed: 1 });
      const [result] = await deps.store.listResults(ref);
      expect(result).toMatchObject({
        status: 'FAILED',
        correct: false,
        error: expect.stringMatching(/step budget of 1/),
      });
    });

    it('throws TransientError for a 5xx once the client gives up, keeping the failed step', async () => {
      sim.setFaults([{ match: 'BMA-0001', status: 503 }]);
      const ref = await accept(bmaDemoRequest(1, 4));
      const subagent = createSubagentHandler(() => Promise.resolve(deps), logger);
      await expect(
        subagent({ ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['BMA-0001'] }, context),
      ).rejects.toMatchObject({ name: 'TransientError' });
      expect(await deps.steps.listSteps(ref)).toMatchObject([{ step: 1, status: 'FAILED', inputTokens: 0 }]);
    });
    it('records a sub-agent the Map caught dying with a short reason, unless it recorded itself', async () => {
      // Prepare: one sub-agent that recorded its own failure (a 5xx), one that left no record (killed)
      sim.setFaults([{ match: 'BMA-0001', status: 503 }]);
      const ref = await accept(bmaDemoRequest(2, 4));
      const subagent = createSubagentHandler(() => Promise.resolve(deps), logger);
      await expect(
        subagent({ ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['BMA-0001'] }, context),
      ).rejects.toMatchObject({ name: 'TransientError' });
      const trace = Array.from({ length: 40 }, (_, i) => `    at frame${i} (/var/task/index.mjs:1:${i})`);
      const caught = (agentId: string, subtaskIds: string[]) => ({
        ...ref,
        stage: 1,
        agentId,
        subtaskIds,
        failure: {
          error: 'Sandbox.Timedout',
          cause: JSON.stringify({ errorMessage: 'Task timed out after 900.00 seconds', trace }),
        },
      });
      // Act
      const own = await subagent(caught('agent-0001', ['BMA-0001']), context);
      const killed = await subagent(caught('agent-0002', ['BMA-0002']), context);
      // Assess
      expect(own).toMatchObject({ recorded: false });
      expect(killed).toEqual({
        agentId: 'agent-0002',
        status: 'FAILED',
        recorded: true,
        reason: 'Sandbox.Timedout: Task timed out after 900.00 seconds',
      });
      const agents = await deps.steps.listAgents(ref);
      expect(agents).toEqual([
        expect.objectContaining({ agentId: 'agent-0001', status: 'FAILED', stepCount: 1 }),
        expect.objectContaining({
          agentId: 'agent-0002',
          status: 'FAILED',
          stepCount: 0,
          subtaskIds: ['BMA-0002'],
          error: 'Sandbox.Timedout: Task timed out after 900.00 seconds',
        }),
      ]);
      expect(agents.every((a) => (a.error ?? '').length <= 300 && !a.error?.includes(' at '))).toBe(true);
    });
  });

  describe('aggregate', () => {
    it('closes a job once: a retried aggregate changes nothing and calls no model', async () => {
      // Prepare: a planned job whose only sub-agent answered.
      const ref = await accept({ task: 'Sums', subtasks: [{ prompt: 'What is 2 + 3?', expected: '5' }] });
      await createPlanHandler(() => Promise.resolve(deps), logger)(ref, context);
      await createSubagentHandler(() => Promise.resolve(deps), logger)(
        { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: ['S-0001'] },
        context,
      );
      const aggregate = createAggregateHandler(() => Promise.resolve(deps), logger);
      const event = { ...ref, stage: 1 };
      // Act
      const first = await aggregate(event, context);
      sim.resetStats();
      const second = await aggregate(event, context);
      // Assess
      expect(first).toEqual({ jobId: ref.jobId, status: 'SUCCEEDED' });
      expect(second).toEqual(first);
      expect(sim.stats().requests).toBe(0);
      const job = await deps.store.getJob(ref);
      expect(job?.metrics).toMatchObject({ criticalSteps: 1 + 1, rPerf: 1, rFinish: 1 });
      expect(job?.result?.answer).not.toBe('');
    });
  });
});

describe('acceptJob', () => {
  const table = useDynaliteTable();

  it('stores the job FAILED with the reason and gives its reservation back when the workflow cannot start', async () => {
    // Prepare: a tenant with $5 in the table
    const api = apiDeps(
      loadConfig({
        TABLE_NAME: table.tableName,
        AWS_REGION: REGION,
        DYNAMODB_ENDPOINT: table.dynamo.endpoint,
        STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:Workflow',
      }),
    );
    const { tenant } = await createTenant(
      { tenants: api.tenants, maxSubagentsCap: 10 },
      { name: 'unlucky', budgetUsd: 5, maxSubagents: 10 },
    );
    const throttled = { start: () => Promise.reject(new Error('StartExecution throttled')) };
    const accept = { ...api, workflow: throttled };
    // Act
    await expect(
      acceptJob(accept, { tenantId: tenant.tenantId, request: { task: 'x' }, idempotencyKey: 'k' }),
    ).rejects.toThrow('StartExecution throttled');
    // Assess
    const jobId = jobIdForKey(tenant.tenantId, 'k');
    expect(await api.store.getJob({ tenantId: tenant.tenantId, jobId })).toMatchObject({
      status: 'FAILED',
      error: 'the workflow could not be started: StartExecution throttled',
    });
    expect(await api.tenants.getTenant(tenant.tenantId)).toMatchObject({
      availableUsd: 5,
      reservedUsd: 0,
      spentUsd: 0,
    });
  });
});
