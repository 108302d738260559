import { describe, expect, it } from 'vitest';
import { awsCostUsd, awsUsageOf, US_EAST_1_PRICES } from '#shared/domain/aws-cost';
import { NotFoundError, TenantLimitError } from '#shared/domain/errors';
import { DEFAULT_TENANT_LIMITS } from '#shared/domain/tenant';
import type { StepRecord } from '#shared/domain/types';
import type { JobRecord, JobStore, StepRecorder } from '#shared/ports/job-store';
import { jobAwsCost } from '#shared/use-cases/job-aws-cost';
import { jobProgress, requireJob } from '#shared/use-cases/jobs';
import { recordSubagentFailure } from '#shared/use-cases/record-subagent-failure';
import { admitRequest } from '#shared/use-cases/tenant-limits';

const step = (role: 'main' | 'sub', agentId: string): StepRecord => ({
  stage: 1,
  role,
  agentId,
  step: 1,
  attempt: 1,
  startedAt: '2026-12-03T00:00:00.000Z',
  endedAt: '2026-12-03T00:00:01.000Z',
  durationMs: 1000,
  inputTokens: 100,
  outputTokens: 10,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
});
const STEPS = [
  step('main', 'planner'),
  step('sub', 'agent-0001'),
  step('sub', 'agent-0002'),
  step('main', 'synthesizer'),
];

describe('jobAwsCost', () => {
  it('counts the job as the domain does: spawned, failed, stages and Map mode from the plan', () => {
    const plan = { stage: 3, mapMode: 'DISTRIBUTED' } as JobRecord['plan'];
    const out = jobAwsCost(
      { plan },
      STEPS,
      { subagents: { spawned: 5, completed: 3 }, costUsd: 0.125 },
      {
        subtasks: 7,
        limiter: true,
      },
    );
    const usage = awsUsageOf({
      steps: STEPS,
      subagents: 5,
      failedSubagents: 2,
      subtasks: 7,
      stages: 3,
      distributedStages: 3,
      limiter: true,
    });
    expect(out.aws).toEqual(usage);
    expect(out.awsCostUsd).toBe(awsCostUsd(usage, US_EAST_1_PRICES));
    expect(out.totalCostUsd).toBeCloseTo(0.125 + out.awsCostUsd, 8);
  });

  it('takes one inline stage without a plan, never a negative failure count, and the prices given', () => {
    const out = jobAwsCost(
      {},
      STEPS,
      { subagents: { spawned: 2, completed: 3 }, costUsd: 0 },
      {
        subtasks: 2,
        limiter: false,
        prices: { ...US_EAST_1_PRICES, lambdaGbSecond: 0 },
      },
    );
    const usage = awsUsageOf({
      steps: STEPS,
      subagents: 2,
      failedSubagents: 0,
      subtasks: 2,
      stages: 1,
      distributedStages: 0,
      limiter: false,
    });
    expect(out.aws).toEqual(usage);
    expect(out.awsCostUsd).toBe(awsCostUsd(usage, { ...US_EAST_1_PRICES, lambdaGbSecond: 0 }));
    expect(out.awsCostUsd).toBeLessThan(awsCostUsd(usage, US_EAST_1_PRICES));
  });

  it('rounds the total to 8 decimals', () => {
    const out = jobAwsCost(
      {},
      [],
      { subagents: { spawned: 0, completed: 0 }, costUsd: 0.123456789123 },
      {
        subtasks: 0,
        limiter: false,
      },
    );
    expect(out.totalCostUsd).toBe(Math.round((0.123456789123 + out.awsCostUsd) * 1e8) / 1e8);
  });
});

describe('recordSubagentFailure', () => {
  it('stores the caught sub-agent FAILED with a short reason, and says whether it had a record', async () => {
    const asked: unknown[] = [];
    let has = false;
    const steps = {
      recordAgentFailure: (ref: unknown, failure: unknown) => {
        asked.push([ref, failure]);
        return Promise.resolve(!has);
      },
    } as unknown as StepRecorder;
    const input = {
      tenantId: 't1',
      jobId: 'j1',
      stage: 2,
      agentId: 'agent-0007',
      subtaskIds: ['a', 'b'],
      failure: {
        error: 'Sandbox.Timedout',
        cause: JSON.stringify({ errorMessage: 'Task timed out\nat frame 1' }),
      },
    };
    const out = await recordSubagentFailure({ steps }, input);
    expect(out).toEqual({
      agentId: 'agent-0007',
      status: 'FAILED',
      recorded: true,
      reason: 'Sandbox.Timedout: Task timed out',
    });
    expect(asked).toEqual([
      [
        { tenantId: 't1', jobId: 'j1' },
        {
          stage: 2,
          agentId: 'agent-0007',
          subtaskIds: ['a', 'b'],
          error: 'Sandbox.Timedout: Task timed out',
        },
      ],
    ]);
    has = true;
    expect((await recordSubagentFailure({ steps }, input)).recorded).toBe(false);
  });
});

describe('admitRequest', () => {
  it('lets a request within the tenant’s rate through, at its own limit or the default', async () => {
    const asked: [string, number][] = [];
    const requests = {
      admit: (tenantId: string, perSecond: number) => {
        asked.push([tenantId, perSecond]);
        return Promise.resolve({ admitted: true as const });
      },
    };
    await admitRequest({ requests }, 't1', 7);
    await admitRequest({ requests }, 't2');
    expect(asked).toEqual([
      ['t1', 7],
      ['t2', DEFAULT_TENANT_LIMITS.requestsPerSecond],
    ]);
  });

  it('refuses one over it with TenantLimitError naming the limit and when to retry', async () => {
    const requests = { admit: () => Promise.resolve({ admitted: false as const, retryAfterSeconds: 2 }) };
    const error = await admitRequest({ requests }, 't1', 5).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantLimitError);
    expect(error).toMatchObject({ limit: 'requestsPerSecond', value: 5, retryAfterSeconds: 2 });
    expect((error as Error).message).toBe(
      'the tenant sent more than its limit of 5 requests a second (requestsPerSecond); try again in 2 s',
    );
  });
});

describe('jobProgress and requireJob', () => {
  const counts = { succeeded: 4, failed: 2, steps: 17 };
  const steps = { countProgress: () => Promise.resolve(counts) };
  it('counts the sub-agents of every stage so far against what the plans spawned', async () => {
    const job = { plan: { stage: 2, agents: 5, earlierAgents: 3 } } as JobRecord;
    expect(await jobProgress(steps, job)).toEqual({
      stage: 2,
      subagents: { done: 6, failed: 2, total: 8 },
      steps: 17,
    });
    expect(await jobProgress(steps, { plan: { agents: 5 } } as JobRecord)).toMatchObject({
      stage: 1,
      subagents: { total: 5 },
    });
    expect(await jobProgress(steps, {} as JobRecord)).toMatchObject({ stage: 1, subagents: { total: 0 } });
  });

  it('requireJob gives the stored job, or NotFoundError naming it', async () => {
    const job = { jobId: 'j1' } as JobRecord;
    const store = (found?: JobRecord) => ({ getJob: () => Promise.resolve(found) }) as unknown as JobStore;
    expect(await requireJob(store(job), { tenantId: 't1', jobId: 'j1' })).toBe(job);
    const error = await requireJob(store(), { tenantId: 't1', jobId: 'j9' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('job j9 not found');
  });
});
