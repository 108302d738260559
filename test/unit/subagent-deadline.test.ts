import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { OpenAiLlm } from '#shared/adapters/llm/openai-llm';
import { DEADLINE_REASON } from '#shared/domain/deadline';
import type { CallOutcome } from '#shared/domain/provider-limits';
import type { StepRecord } from '#shared/domain/types';
import type { AgentRecord, JobRecord, JobStore, StepRecorder, SubtaskResult } from '#shared/ports/job-store';
import type { LimiterLease, RateLimiter } from '#shared/ports/rate-limiter';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { ref, runningJob } from './subagent-fixtures';

const subtasks = [
  { id: 'S-1', prompt: 'quick question', expected: 'yes' },
  { id: 'S-2', prompt: 'slow question', expected: 'yes' },
  { id: 'S-3', prompt: 'never asked', expected: 'yes' },
];

/**
 * An OpenAI-compatible endpoint on loopback: answers "yes" at once unless the prompt says "slow",
 * which it never answers (as a provider that hangs past the sub-agent's deadline).
 */
function provider(): Promise<{ server: Server; url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      requests += 1;
      if (body.includes('slow')) return; // no answer: the client must abort it
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          id: 'c',
          object: 'chat.completion',
          created: 0,
          model: 'sim',
          choices: [{ index: 0, message: { role: 'assistant', content: 'yes' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 },
        }),
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
        requests: () => requests,
      }),
    ),
  );
}

/** A limiter that grants every call at once and remembers what was given back, and how. */
function countingLimiter() {
  const held = new Set<string>();
  const released: CallOutcome[] = [];
  let next = 0;
  const limiter: RateLimiter = {
    acquire: () => {
      next += 1;
      const lease: LimiterLease = { id: `lease-${next}`, waitedMs: 0, limiterMs: 0 };
      held.add(lease.id);
      return Promise.resolve(lease);
    },
    release: (lease, outcome) => {
      held.delete(lease.id);
      released.push(outcome);
      return Promise.resolve();
    },
    freeSlots: () => Promise.resolve(1),
    snapshot: () => Promise.reject(new Error('not used')),
  };
  return { limiter, held, released };
}

/** The job's records in memory. */
function memoryJob(plan: Partial<JobRecord['plan']> = {}) {
  const results: SubtaskResult[] = [];
  const steps: StepRecord[] = [];
  const agents: AgentRecord[] = [];
  const job = runningJob({
    plan: { stage: 1, agents: 1, maxConcurrency: 1, mapMode: 'INLINE', subtasks: 3, ...plan },
  });
  const store = {
    getJob: () => Promise.resolve(job),
    getSubtasks: () => Promise.resolve(subtasks),
    getJobAndSubtasks: () => Promise.resolve({ job, subtasks }),
    getDatasetItem: () => Promise.resolve(undefined),
    putResult: (_ref, result) => {
      results.push(result);
      return Promise.resolve();
    },
  } as Partial<JobStore> as JobStore;
  const recorder = {
    nextAttempt: () => Promise.resolve(1),
    recordStep: (_ref, step) => {
      steps.push(step);
      return Promise.resolve();
    },
    finishAgent: (_ref, agent, _role, stored = []) => {
      results.push(...stored);
      agents.push(agent);
      return Promise.resolve();
    },
  } as Partial<StepRecorder> as StepRecorder;
  return { store, recorder, results, steps, agents };
}

describe('runSubagent at its deadline', () => {
  let endpoint: Awaited<ReturnType<typeof provider>>;
  beforeAll(async () => {
    endpoint = await provider();
    // One call first, so the SDK's first-use cost is not spent inside a test's deadline.
    await llmWith(countingLimiter().limiter).chat({ messages: [{ role: 'user', content: 'warm up' }] });
  });
  afterAll(() => new Promise<void>((resolve) => endpoint.server.close(() => resolve())));

  const llmWith = (limiter: RateLimiter) =>
    new LimitedLlm(
      new OpenAiLlm({ baseUrl: endpoint.url, apiKey: 'k', model: 'sim', timeoutMs: 60_000 }),
      limiter,
      { maxRetries: 4, backoffBaseMs: 10, backoffCapMs: 20, maxWaitMs: 60_000 },
    );
  const input = { ...ref, stage: 1, agentId: 'agent-0001', subtaskIds: subtasks.map((s) => s.id) };
  const config = { subagentStepBudget: 3, maxOutputTokens: 100 };

  it('aborts the call in flight before the Lambda timeout, gives its lease back and records what it has', async () => {
    // Prepare: the Lambda times out 4 s from now and the sub-agent keeps 1.5 s back; the provider
    // never answers the second call (the SDK's own timeout is a minute, past the test's)
    const { limiter, held, released } = countingLimiter();
    const job = memoryJob();
    const before = endpoint.requests();
    // Act
    const out = await runSubagent(
      { store: job.store, steps: job.recorder, llm: llmWith(limiter), config },
      input,
      { lambdaDeadlineAt: Date.now() + 4_000, stopMarginMs: 1_500 },
    );
    // Assess: a summary for the Map instead of a timeout
    expect(out).toEqual({ agentId: 'agent-0001', status: 'FAILED', answered: 1, failed: 2 });
    // the lease of the aborted call was given back, neutrally (no failure against the provider)
    expect(held.size).toBe(0);
    expect(released.map((o) => o.kind)).toEqual(['success', 'rejected']);
    // the slow call was not retried, the third subtask never asked
    expect(endpoint.requests() - before).toBe(2);
    // every subtask has a result; the unfinished ones name the deadline
    expect(job.results.map((r) => [r.subtaskId, r.status])).toEqual([
      ['S-1', 'ANSWERED'],
      ['S-2', 'FAILED'],
      ['S-3', 'FAILED'],
    ]);
    expect(job.results[1]?.error).toContain(DEADLINE_REASON);
    // the aborted call is a FAILED step; the agent is FAILED with the reason
    expect(job.steps.map((s) => s.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(job.agents).toHaveLength(1);
    expect(job.agents[0]).toMatchObject({ status: 'FAILED', stepCount: 2 });
    expect(job.agents[0]?.error).toMatch(/stopped at its deadline .*: 1 of 3 subtasks answered/);
  });

  it('stops at the job’s deadline when it comes before the Lambda’s', async () => {
    // Prepare: the plan's deadline is 2.5 s away; the Lambda has 15 minutes
    const { limiter, held } = countingLimiter();
    const job = memoryJob({ deadlineAt: new Date(Date.now() + 2_500).toISOString() });
    // Act
    const out = await runSubagent(
      { store: job.store, steps: job.recorder, llm: llmWith(limiter), config },
      input,
      { lambdaDeadlineAt: Date.now() + 900_000 },
    );
    // Assess
    expect(out.status).toBe('FAILED');
    expect(out.answered).toBe(1);
    expect(held.size).toBe(0);
    expect(job.agents[0]?.error).toContain(job.results[1]?.error ?? 'missing');
  });

  it('starts no call once the deadline has passed', async () => {
    // Prepare: the deadline is already behind
    const { limiter, released } = countingLimiter();
    const job = memoryJob();
    // Act
    const out = await runSubagent(
      { store: job.store, steps: job.recorder, llm: llmWith(limiter), config },
      input,
      { lambdaDeadlineAt: Date.now() - 1, stopMarginMs: 0 },
    );
    // Assess
    expect(out).toEqual({ agentId: 'agent-0001', status: 'FAILED', answered: 0, failed: 3 });
    expect(released).toEqual([]);
    expect(job.steps).toEqual([]);
    expect(job.results.every((r) => r.status === 'FAILED')).toBe(true);
  });
});
