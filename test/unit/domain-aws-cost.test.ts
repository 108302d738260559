import { describe, expect, it } from 'vitest';
import { awsUsageOf } from '#shared/domain/aws-cost';

describe('awsUsageOf with orchestrator calls', () => {
  it("bills the planner's call to the plan function and the synthesis to the aggregate function", () => {
    // Hand-worked: the planner's call 400 ms (512 MB), the synthesis 600 ms (1,024 MB), one sub-agent's
    // call 1,000 ms (512 MB), plus each function's invocation overhead.
    const usage = awsUsageOf({
      steps: [
        { role: 'main', agentId: 'planner', durationMs: 400 },
        { role: 'sub', agentId: 'agent-1', durationMs: 1000 },
        { role: 'main', agentId: 'synthesizer', durationMs: 600 },
      ],
      subagents: 1,
      failedSubagents: 0,
      subtasks: 1,
      stages: 1,
      distributedStages: 0,
      limiter: true,
    });
    // plan (0.4 + 0.3) s × 0.5 GB + sub-agent (1.0 + 0.15) s × 0.5 GB + aggregate (0.6 + 0.5) s × 1 GB
    // + api 0.1 s × 0.5 GB + authorizer 0.05 s × 0.25 GB = 0.35 + 0.575 + 1.1 + 0.05 + 0.0125
    expect(usage.lambdaGbSeconds).toBe(2.0875);
  });
});
