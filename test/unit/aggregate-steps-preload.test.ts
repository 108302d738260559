import { describe, expect, it } from 'vitest';
import { ProviderRejectedError } from '#shared/domain/errors';
import { aggregateJob } from '#shared/use-cases/aggregate-job';
import { agent, answered, job, REF, world } from './aggregate-fakes';

const done = { agents: [agent('agent-0001', 'SUCCEEDED')], results: [answered('a', { answer: 'A' })] };

describe("aggregateJob: the job's steps, read while the synthesizer answers", () => {
  it('reads the steps so far once the synthesis call is on its way, then the synthesizer’s own alone', async () => {
    // Prepare: a provider client that tells when the request goes
    const { deps, seen } = world({ stored: job(), ...done, tellsSent: true });
    // Act
    const out = await aggregateJob(deps, { ...REF, stage: 1 });
    // Assess: all steps read between the send and the answer; after it, one agent's keys
    expect(out).toMatchObject({ status: 'SUCCEEDED' });
    const reads = seen.order.filter((e) => e.startsWith('list') || e === 'chat' || e === 'answer');
    expect(reads).toEqual(['chat', 'listSteps', 'answer', 'listAgentSteps 1 main synthesizer']);
    // The measures count the sub-agent's step and the synthesizer's (100 + 500 input tokens)
    expect(seen.finished[0]?.metrics?.tokens.input).toBe(600);
    expect(seen.finished[0]?.metrics?.criticalSteps).toBe(2);
  });

  it('reads every step after the answer when the client does not tell the send', async () => {
    // Prepare
    const { deps, seen } = world({ stored: job(), ...done });
    // Act
    await aggregateJob(deps, { ...REF, stage: 1 });
    // Assess
    const reads = seen.order.filter((e) => e.startsWith('list') || e === 'answer');
    expect(reads).toEqual(['answer', 'listSteps']);
    expect(seen.finished[0]?.metrics?.tokens.input).toBe(600);
  });

  it('keeps a synthesis the provider refused, read after the send, among the steps', async () => {
    // Prepare: the request went, the provider refused it (the failed step is recorded)
    const { deps, seen } = world({
      stored: job(),
      ...done,
      tellsSent: true,
      reply: { throws: new ProviderRejectedError('context too long', { status: 400 }) },
    });
    // Act
    const out = await aggregateJob(deps, { ...REF, stage: 1 });
    // Assess: the job fails with the reason, its steps the sub-agent's and the refused call
    expect(out).toMatchObject({ status: 'FAILED' });
    expect(seen.order).toContain('listAgentSteps 1 main synthesizer');
    expect(seen.recorded.map((s) => [s.agentId, s.status])).toEqual([['synthesizer', 'FAILED']]);
    expect(seen.settled).toHaveLength(1);
  });
});
