import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStack } from '#local/runtime';
import { parseJobRequest } from '#shared/domain/request';
import type { StepRecord } from '#shared/domain/types';

/** The most sub-agents whose first step had started and whose last step had not ended, at any moment. */
function mostAgentsAtOnce(steps: readonly StepRecord[]): number {
  const spans = new Map<string, { from: number; to: number }>();
  for (const s of steps.filter((x) => x.role === 'sub')) {
    const key = `${s.stage}/${s.agentId}`;
    const from = Date.parse(s.startedAt);
    const to = Date.parse(s.endedAt);
    const span = spans.get(key);
    spans.set(key, span ? { from: Math.min(span.from, from), to: Math.max(span.to, to) } : { from, to });
  }
  // An agent that ends in the millisecond another starts does not overlap it: ends count first.
  const edges = [...spans.values()].flatMap((x) => [
    { at: x.from, d: 1 },
    { at: x.to, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let open = 0;
  let most = 0;
  for (const e of edges) {
    open += e.d;
    most = Math.max(most, open);
  }
  return most;
}

/**
 * The Map's MaxConcurrencyPath at run time: aws-local-stepfunctions runs the synthesized definition,
 * and the sub-agents in flight are counted from their step records and from the simulator's
 * requests in flight (each sub-agent makes one model call at a time; the orchestrator waits).
 */
describe('the width of a fan-out, counted while the job runs', () => {
  let stack: EmbeddedStack;

  beforeAll(async () => {
    // Latency on (a few hundred ms a call), so that sub-agents started together overlap.
    stack = await EmbeddedStack.boot({ simulator: { seed: 7, latencyScale: 0.5 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it.each([
    [1, 4],
    [3, 9],
  ])('runs at most %i of %i sub-agents at once, and uses that width', async (width, agents) => {
    // Prepare: one subtask per sub-agent
    const request = parseJobRequest(
      {
        task: 'Answer each question',
        subtasks: Array.from({ length: agents }, (_, i) => `What is ${i} + ${i}?`),
        maxSubagents: width,
        itemsPerAgent: 1,
      },
      { maxSubagentsCap: 1000 },
    );
    stack.simulator!.resetStats();
    // Act
    const { job, steps } = await stack.run(request);
    const simulator = stack.simulator!.stats();
    // Assess: the plan asked for the width, the runtime kept to it, and used all of it
    expect(job.status).toBe('SUCCEEDED');
    expect(job.plan).toMatchObject({ agents, maxConcurrency: width, mapMode: 'INLINE' });
    expect(new Set(steps.filter((s) => s.role === 'sub').map((s) => s.agentId)).size).toBe(agents);
    const most = mostAgentsAtOnce(steps);
    expect(most).toBeLessThanOrEqual(width);
    expect(simulator.maxInFlight).toBeLessThanOrEqual(width);
    // …and ran them side by side when it may (a Map run one at a time would pass the bound alone)
    expect(most).toBeGreaterThanOrEqual(Math.min(width, 2));
  });
});
