import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStack } from '#local/runtime';
import { MAX_REASON_CHARS } from '#shared/domain/failure-reason';
import { INLINE_MAP_MAX_ITEMS } from '#shared/domain/fan-out-limits';
import { parseJobRequest } from '#shared/domain/request';

/**
 * A stage wider than the inline Map whose failing sub-agents carry long errors: before, each caught
 * failure travelled on in the Map's result with its Lambda cause (a kilobyte or more), and a few
 * hundred of them failed the whole job with States.DataLimitExceeded (the local runtime checks
 * the cloud's 256 KiB limit at every Task). Now the Maps return nothing, each failure is recorded
 * in DynamoDB with a short reason, and Aggregate reads the outcomes from there.
 */
describe('a wide stage whose sub-agents fail with long errors', () => {
  let stack: EmbeddedStack;

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({ simulator: { seed: 3, latencyScale: 0 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('ends SUCCEEDED with every failure stored, each with a short reason', async () => {
    // Prepare: 270 one-call sub-agents (distributed), one in three refused with a 4 KB message
    const agents = INLINE_MAP_MAX_ITEMS + 20;
    const refused = (i: number) => i % 3 === 0;
    const request = parseJobRequest(
      {
        task: 'Answer each question',
        subtasks: Array.from({ length: agents }, (_, i) =>
          refused(i) ? `What is ${i} + ${i}? (refuse-me)` : `What is ${i} + ${i}?`,
        ),
        maxSubagents: 50,
        itemsPerAgent: 1,
      },
      { maxSubagentsCap: 1000 },
    );
    const longMessage = `invalid request: ${'the content was refused by the provider. '.repeat(100)}`;
    stack.simulator!.setFaults([
      {
        match: 'refuse-me',
        status: 400,
        body: { error: { message: longMessage, type: 'invalid_request_error' } },
      },
    ]);
    // Act
    const { job } = await stack.run(request);
    stack.simulator!.setFaults([]);
    // Assess: the job ran to its end, every sub-agent has a record, the failures short reasons
    expect(job.error).toBeUndefined();
    expect(job.status).toBe('SUCCEEDED');
    expect(job.plan).toMatchObject({ agents, mapMode: 'DISTRIBUTED' });
    const records = await stack.store.listAgents(job);
    const subagents = records.filter((a) => a.agentId.startsWith('agent-'));
    expect(subagents).toHaveLength(agents);
    const failed = subagents.filter((a) => a.status === 'FAILED');
    expect(failed).toHaveLength(Array.from({ length: agents }, (_, i) => i).filter(refused).length);
    for (const agent of failed) {
      expect(agent.error).toMatch(/^Provider answered 400 \(invalid_request_error\): invalid request/);
      expect(agent.error!.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    }
    expect(job.metrics?.subagents).toMatchObject({ spawned: agents, completed: agents - failed.length });
  }, 300_000);
});
