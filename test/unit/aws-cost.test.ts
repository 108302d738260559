import { describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { type AwsUsage, awsCostUsd, awsUsageOf, US_EAST_1_PRICES } from '#shared/domain/aws-cost';
import { ConfigError } from '#shared/domain/errors';

/**
 * A hand-worked job: one stage, inline, 2 subtasks, 2 sub-agents (both completed), the limiter on,
 * no orchestrator call (the request carried its subtasks, no synthesis model call).
 * agent-1 made two calls of 1,000 ms and 500 ms; agent-2 one call of 2,000 ms after 1,000 ms waiting.
 */
const steps = [
  { role: 'sub' as const, agentId: 'agent-1', durationMs: 1000, waitedMs: 0 },
  { role: 'sub' as const, agentId: 'agent-1', durationMs: 500 },
  { role: 'sub' as const, agentId: 'agent-2', durationMs: 2000, waitedMs: 1000 },
];
const job = {
  steps,
  subagents: 2,
  failedSubagents: 0,
  subtasks: 2,
  stages: 1,
  distributedStages: 0,
  limiter: true,
};

describe('awsUsageOf', () => {
  it('counts a hand-worked job', () => {
    expect(awsUsageOf(job)).toEqual({
      // Plan, JobSucceeded + ChooseFanOut, Subagents, Aggregate, JobOutcome + 2 × RunSubagent
      stateTransitions: 2 + 4 + 2,
      // api, authorizer, plan + 2 sub-agents + 1 aggregate
      lambdaRequests: 6,
      // plan 0.3 s × 0.5 GB + sub-agents (1.0 + 0.5 + 2.0 + 1.0 + 2 × 0.15) s × 0.5 GB + aggregate 0.5 s × 1 GB
      // + api 0.1 s × 0.5 GB + authorizer 0.05 s × 0.25 GB = 0.15 + 2.4 + 0.5 + 0.05 + 0.0125
      lambdaGbSeconds: 3.1125,
      // accept 20 + 2 subtasks × 1 + 3 calls × 8 + 2 sub-agents × 2 + 1 stage × 2 + close 24 (each
      // result rides in its sub-agent's record: one sub-agent a subtask)
      dynamoWriteUnits: 76,
      // 1 + 2 × 1 + 3 × 1 + 2 × 1 + 3 + 3
      dynamoReadUnits: 14,
      s3PutRequests: 0,
      s3GetRequests: 0,
    });
  });

  it('counts a failed sub-agent’s extra state and invocation, a distributed stage’s item list and results, and no limiter units when it is off', () => {
    const usage = awsUsageOf({ ...job, failedSubagents: 1, distributedStages: 1, limiter: false });
    expect(usage.stateTransitions).toBe(9);
    // SubagentFailed: one more invocation of the sub-agent function, 150 ms at 512 MB
    expect(usage.lambdaRequests).toBe(6 + 1);
    expect(usage.lambdaGbSeconds).toBeCloseTo(3.1125 + 0.15 * 0.5, 6);
    // the item list, and the ResultWriter's manifest and results file
    expect(usage.s3PutRequests).toBe(3);
    expect(usage.s3GetRequests).toBe(1);
    expect(usage.dynamoWriteUnits).toBe(76 - 3 * 3);
    expect(usage.dynamoReadUnits).toBe(14 - 3 * 1);
  });

  it('counts the results of a batched sub-agent’s earlier subtasks as items of their own', () => {
    // 5 subtasks on the same 2 sub-agents: 3 more subtask items at accept, and 3 results that are
    // not their sub-agent's last; 3 more reads (the subtasks'), none for those results
    const usage = awsUsageOf({ ...job, subtasks: 5 });
    expect(usage.dynamoWriteUnits).toBe(76 + 3 + 3);
    expect(usage.dynamoReadUnits).toBe(14 + 3);
  });
});

describe('awsCostUsd', () => {
  it('prices the hand-worked job at public us-east-1 prices', () => {
    // 8 × $0.000025 + 6 × $0.0000002 + 3.1125 × $0.0000133334 + 76 × $0.000000625 + 14 × $0.000000125
    // = 0.0002 + 0.0000012 + 0.0000415002 + 0.0000475 + 0.00000175 = 0.0002919502
    expect(awsCostUsd(awsUsageOf(job))).toBe(0.00029195);
  });

  it('prices S3 requests and takes another price table', () => {
    const s3: AwsUsage = {
      stateTransitions: 0,
      lambdaRequests: 0,
      lambdaGbSeconds: 0,
      dynamoWriteUnits: 0,
      dynamoReadUnits: 0,
      s3PutRequests: 1000,
      s3GetRequests: 1000,
    };
    expect(awsCostUsd(s3)).toBe(0.0054);
    expect(awsCostUsd(s3, { ...US_EAST_1_PRICES, s3PutRequest: 0 })).toBe(0.0004);
  });
});

describe('PARL_AWS_PRICES', () => {
  const env = { TABLE_NAME: 't' };

  it('overrides the defaults it names', () => {
    const config = loadConfig({ ...env, PARL_AWS_PRICES: '{"lambdaGbSecond":0.0000166667}' });
    expect(config.awsPrices).toEqual({ ...US_EAST_1_PRICES, lambdaGbSecond: 0.0000166667 });
    expect(loadConfig(env).awsPrices).toEqual(US_EAST_1_PRICES);
  });

  it.each([
    ['not json', /PARL_AWS_PRICES: must be a JSON object of prices/],
    ['{"lambdaGbSeconds":1}', /PARL_AWS_PRICES: has no price "lambdaGbSeconds"; known: stateTransition/],
    ['{"stateTransition":-1}', /PARL_AWS_PRICES: stateTransition must be a non-negative number/],
  ])('refuses %s, naming the variable', (value, message) => {
    expect(() => loadConfig({ ...env, PARL_AWS_PRICES: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, PARL_AWS_PRICES: value })).toThrow(message);
  });
});
