import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createExecutionEndedHandler,
  type ExecutionStatusChangeEvent,
} from '#lambdas/execution-ended/handler';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { loadConfig } from '#shared/config';
import { computeJobMetrics, DEFAULT_WEIGHTS } from '#shared/domain/measures';
import { EXECUTION_METRICS, METRICS_NAMESPACE } from '#shared/domain/swarm-metrics';
import type { StepRecord } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import { CANCEL_REASON } from '#shared/use-cases/jobs';
import { type WorkflowDeps, workflowDeps } from '#shared/wiring';
import { useDynaliteTable } from './dynalite-table';
import { captureEmf, lambdaTelemetry } from './emf.ts';

const REGION = 'us-east-1';
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:123456789012:stateMachine:Workflow`;
const context = {
  functionName: 'ExecutionEnded',
  awsRequestId: 'test',
  getRemainingTimeInMillis: () => 60_000,
} as Context;

/** An EventBridge "Step Functions Execution Status Change" event for the job's execution. */
function statusChange(
  ref: JobRef,
  detail: { status: string; error?: string | null; cause?: string | null; input?: string | null },
): ExecutionStatusChangeEvent {
  const executionArn = `arn:aws:states:${REGION}:123456789012:execution:Workflow:${ref.jobId}`;
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: new Date().toISOString(),
    region: REGION,
    resources: [executionArn],
    detail: {
      executionArn,
      stateMachineArn: STATE_MACHINE_ARN,
      name: ref.jobId,
      startDate: Date.now() - 7_200_000,
      stopDate: Date.now(),
      input: JSON.stringify({ jobId: ref.jobId, tenantId: ref.tenantId }),
      inputDetails: { included: true },
      output: null,
      outputDetails: null,
      error: null,
      cause: null,
      ...detail,
    } as ExecutionStatusChangeEvent['detail'],
  };
}

function step(agentId: string, n: number, durationMs: number, tokens = 100): StepRecord {
  const startedAt = new Date(Date.now() - 60_000);
  return {
    stage: 1,
    role: agentId === 'planner' ? 'main' : 'sub',
    agentId,
    step: n,
    startedAt: startedAt.toISOString(),
    endedAt: new Date(startedAt.getTime() + durationMs).toISOString(),
    durationMs,
    inputTokens: tokens,
    outputTokens: tokens / 10,
    cachedInputTokens: 0,
    status: 'SUCCEEDED',
    attempt: 1,
  };
}

describe('the execution-ended handler against dynalite', () => {
  const table = useDynaliteTable();
  let deps: WorkflowDeps;
  let handler: ReturnType<typeof createExecutionEndedHandler>;

  beforeAll(async () => {
    deps = await workflowDeps(
      loadConfig({
        TABLE_NAME: table.tableName,
        AWS_REGION: REGION,
        DYNAMODB_ENDPOINT: table.dynamo.endpoint,
      }),
    );
    handler = createExecutionEndedHandler(() => Promise.resolve(deps), createLogger('SILENT'));
  });

  /**
   * A RUNNING job of two sub-agents, two subtasks with ground truth: the planner took one step,
   * agent-0001 two steps and answered s1 correctly, agent-0002 one step and never finished.
   */
  async function runningJob(): Promise<JobRef> {
    const ref = { tenantId: 'tenant-a', jobId: randomUUID() };
    await deps.store.createJob(
      {
        ...ref,
        status: 'RUNNING',
        request: { task: 'Do the sums', workload: 'generic', mode: 'parl' },
        acceptedAt: new Date(Date.now() - 120_000).toISOString(),
        startedAt: new Date(Date.now() - 119_000).toISOString(),
        plan: {
          stage: 1,
          agents: 2,
          maxConcurrency: 2,
          mapMode: 'INLINE',
          subtasks: 2,
          decomposedBy: 'request',
        },
      },
      [
        { id: 's1', prompt: 'What is 2 + 2?', expected: '4' },
        { id: 's2', prompt: 'What is 7 * 6?', expected: '42' },
      ],
    );
    for (const s of [step('planner', 1, 100), step('agent-0001', 1, 200), step('agent-0001', 2, 300)]) {
      await deps.steps.recordStep(ref, s);
    }
    await deps.steps.recordStep(ref, step('agent-0002', 1, 400));
    await deps.steps.finishAgent(ref, {
      stage: 1,
      agentId: 'agent-0001',
      status: 'SUCCEEDED',
      attempt: 1,
      stepCount: 2,
      subtaskIds: ['s1'],
    });
    await deps.store.putResult(ref, {
      subtaskId: 's1',
      agentId: 'agent-0001',
      stage: 1,
      status: 'ANSWERED',
      answer: '4',
      expected: '4',
      correct: true,
    });
    return ref;
  }

  it('stores a timed-out job as FAILED with its reason and the measures of the steps taken so far', async () => {
    // Prepare
    const ref = await runningJob();
    // Act
    const out = await handler(statusChange(ref, { status: 'TIMED_OUT' }), context);
    // Assess
    expect(out).toEqual({
      jobId: ref.jobId,
      previousStatus: 'RUNNING',
      status: 'FAILED',
      error: 'the execution timed out',
    });
    const job = (await deps.store.getJob(ref))!;
    expect(job).toMatchObject({ status: 'FAILED', error: 'the execution timed out' });
    const m = job.metrics!;
    expect(m).toMatchObject({
      criticalSteps: 1 + 2,
      sequentialSteps: 1 + 2 + 1,
      criticalPathMs: 100 + 500,
      sequentialMs: 1000,
      subagents: { spawned: 2, completed: 1 },
      rFinish: 0.5,
      rPerf: 0.5,
      tokens: { input: 400, output: 40, cachedInput: 0 },
    });
    // Every step-derived measure recomputes from the stored steps; no model call was added.
    const steps = await deps.steps.listSteps(ref);
    expect(steps).toHaveLength(4);
    const again = computeJobMetrics({
      steps,
      spawned: 2,
      completed: 1,
      correct: 1,
      scored: 2,
      acceptedAt: job.acceptedAt,
      finishedAt: job.finishedAt!,
      weights: DEFAULT_WEIGHTS,
    });
    // The AWS cost comes from the cost model (test/unit/aws-cost.test.ts), on top of the token cost.
    const { aws, awsCostUsd, totalCostUsd } = m;
    expect(m).toEqual({ ...again, provider: m.provider, aws, awsCostUsd, totalCostUsd });
    expect(totalCostUsd).toBeCloseTo(m.costUsd + (awsCostUsd ?? Number.NaN), 8);
    expect(job.result?.summary).toMatchObject({ subtasks: 2, answered: 1, scored: 2, correct: 1 });
  });

  it.each([
    {
      event: { status: 'ABORTED' },
      status: 'CANCELLED',
      error: 'the execution was stopped',
    },
    {
      event: { status: 'ABORTED', cause: 'cancelled by the tenant' },
      status: 'CANCELLED',
      error: 'cancelled by the tenant',
    },
    {
      event: {
        status: 'FAILED',
        error: 'States.Runtime',
        cause: 'An error occurred while executing the state',
      },
      status: 'FAILED',
      error: 'the execution failed: States.Runtime: An error occurred while executing the state',
    },
    {
      event: { status: 'FAILED', error: 'Lambda.Unknown', cause: '{"errorMessage":"out of memory"}' },
      status: 'FAILED',
      error: 'the execution failed: Lambda.Unknown: out of memory',
    },
  ])('stores a $event.status execution as $status with "$error"', async ({ event, status, error }) => {
    // Prepare
    const ref = await runningJob();
    // Act
    await handler(statusChange(ref, event), context);
    // Assess
    const job = (await deps.store.getJob(ref))!;
    expect(job).toMatchObject({ status, error });
    expect(job.metrics).toMatchObject({ criticalSteps: 3, subagents: { spawned: 2, completed: 1 } });
    expect(job.finishedAt).toEqual(expect.any(String));
  });

  it('leaves a job that already succeeded as it is', async () => {
    // Prepare
    const ref = await runningJob();
    await deps.store.finishJob(ref, {
      status: 'SUCCEEDED',
      finishedAt: '2030-01-01T00:00:00.000Z',
      result: { answer: 'done', summary: { subtasks: 2 } },
    });
    // Act
    const out = await handler(statusChange(ref, { status: 'TIMED_OUT' }), context);
    // Assess
    expect(out).toEqual({ jobId: ref.jobId, previousStatus: 'SUCCEEDED', status: 'SUCCEEDED' });
    const job = (await deps.store.getJob(ref))!;
    expect(job).toMatchObject({ status: 'SUCCEEDED', finishedAt: '2030-01-01T00:00:00.000Z' });
    expect(job.error).toBeUndefined();
    expect(job.metrics).toBeUndefined();
  });

  it('keeps the first terminal state when the same event comes twice', async () => {
    // Prepare
    const ref = await runningJob();
    await handler(statusChange(ref, { status: 'ABORTED' }), context);
    const first = await deps.store.getJob(ref);
    // Act
    const out = await handler(statusChange(ref, { status: 'ABORTED' }), context);
    // Assess
    expect(out).toMatchObject({ previousStatus: 'CANCELLED', status: 'CANCELLED' });
    expect(await deps.store.getJob(ref)).toEqual(first);
  });

  it('stores nothing for an execution whose job does not exist', async () => {
    // Prepare
    const ref = { tenantId: 'tenant-a', jobId: randomUUID() };
    // Act
    const out = await handler(statusChange(ref, { status: 'TIMED_OUT' }), context);
    // Assess
    expect(out).toEqual({ jobId: ref.jobId, previousStatus: undefined, status: undefined });
    expect(await deps.store.getJob(ref)).toBeUndefined();
  });

  it.each([
    [
      'an input without tenantId',
      (ref: JobRef) => ({ status: 'TIMED_OUT', input: `{"jobId":"${ref.jobId}"}` }),
    ],
    ['an input that is not JSON', () => ({ status: 'TIMED_OUT', input: '{"jobId":' })],
    ['no input', () => ({ status: 'TIMED_OUT', input: null })],
    ['a status that is not an abnormal end', () => ({ status: 'SUCCEEDED' })],
  ])('ignores an event with %s, without throwing', async (_name, detail) => {
    // Prepare
    const ref = await runningJob();
    // Act
    const out = await handler(statusChange(ref, detail(ref)), context);
    // Assess
    expect(out).toBeUndefined();
    expect((await deps.store.getJob(ref))?.status).toBe('RUNNING');
  });

  it.each([
    [
      'stopped by someone other than its tenant',
      { status: 'ABORTED', error: 'States.Aborted', cause: 'from the console' },
      1,
    ],
    ['cancelled by its tenant', { status: 'ABORTED', error: 'Cancelled', cause: CANCEL_REASON }, 0],
    ['that timed out', { status: 'TIMED_OUT' }, 0],
  ])('counts an execution %s in ExecutionsStopped: %i', async (_name, detail, stopped) => {
    // Prepare
    const ref = await runningJob();
    const observed = createExecutionEndedHandler(
      () => Promise.resolve(deps),
      createLogger('SILENT'),
      lambdaTelemetry(),
    );
    // Act
    const documents = await captureEmf(() => observed(statusChange(ref, detail), context));
    // Assess
    const values = documents.map((doc) => doc[EXECUTION_METRICS.stopped]).filter((v) => v !== undefined);
    expect(values).toEqual(stopped ? [stopped] : []);
    for (const doc of documents) {
      expect(doc._aws.CloudWatchMetrics[0]).toMatchObject({
        Namespace: METRICS_NAMESPACE,
        Dimensions: [['service']],
      });
    }
    expect((await deps.store.getJob(ref))?.status).toBe(detail.status === 'ABORTED' ? 'CANCELLED' : 'FAILED');
  });

  it('ignores an event without a detail, without throwing', async () => {
    // Act
    const out = await handler({ source: 'aws.states' } as unknown as ExecutionStatusChangeEvent, context);
    // Assess
    expect(out).toBeUndefined();
  });
});
