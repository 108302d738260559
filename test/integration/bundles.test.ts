import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStack } from '#local/runtime';
import { parseJobRequest } from '#shared/domain/request';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';

const demo = (n: number) => parseJobRequest(bmaDemoRequest(n, 2), { maxSubagentsCap: 1000 });

/** The artifacts `cdk synth` would upload to Lambda (esbuild, ESM, minified), run against local parts. */
describe('the bundled Lambda code', () => {
  let stack: EmbeddedStack;

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({
      code: 'bundled',
      simulator: { seed: 2, latencyScale: 0 },
      env: { PARL_LLM_MAX_RETRIES: '0' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('runs a job to SUCCEEDED', async () => {
    const { job, steps } = await stack.run(demo(6));
    expect(job.status).toBe('SUCCEEDED');
    expect(steps).toHaveLength(6 * 2 + 1);
    expect(job.metrics!.rFinish).toBe(1);
  });

  it('keeps the error names the state machine retries and catches on, through minification', async () => {
    // Prepare: the provider keeps failing for one installation.
    stack.simulator!.setFaults([{ match: 'BMA-0002', status: 500 }]);
    // Act
    const { job, steps } = await stack.run(demo(4));
    // Assess: TransientError was not retried by Step Functions (model calls retry at the client,
    // here never: PARL_LLM_MAX_RETRIES=0), and was caught as a tolerated failure by its name.
    expect(job.status).toBe('SUCCEEDED');
    expect(job.metrics!.subagents).toEqual({ spawned: 4, completed: 3 });
    expect(steps.find((s) => s.agentId === 'agent-0002')).toMatchObject({
      status: 'FAILED',
      attempt: 1,
      calls: 1,
    });
    expect(job.result!.failedAgents).toEqual([
      {
        agentId: 'agent-0002',
        error: expect.stringMatching(/^Provider answered 500 \(engine_overloaded_error\)/),
      },
    ]);
  });
});
