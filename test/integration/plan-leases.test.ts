import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStack } from '#local/runtime';
import { createDynamoDocumentClient, createS3Client, resolveApiKey } from '#shared/adapters/aws/clients';
import { itemsKey } from '#shared/adapters/aws/s3-item-store';
import { createRateLimiter } from '#shared/adapters/llm/client';
import { parseJobRequest } from '#shared/domain/request';

/**
 * The leases a plan takes ahead for its Distributed Map's first calls, on the embedded stack: the
 * sub-agents the Map starts at once find one each in their items, their first calls go on them
 * (no lease is claimed twice), and once the job has ended none is held.
 */
describe('the leases of a Map’s first calls, taken by its plan', () => {
  let stack: EmbeddedStack;

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({ simulator: { seed: 5, latencyScale: 0 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('go one to each sub-agent started at once, are used by its first call, and none is held after', async () => {
    // Prepare: 60 sub-agents, 50 at once (above the inline Map's 40: distributed)
    const request = parseJobRequest(
      {
        task: 'Answer each question',
        subtasks: Array.from({ length: 60 }, (_, i) => `What is ${i} + 2?`),
        maxSubagents: 50,
        itemsPerAgent: 1,
      },
      { maxSubagentsCap: 1000 },
    );
    const config = stack.functionConfigs.get('plan');
    if (!config?.itemsBucket) throw new Error('the plan function has no items bucket');
    const limiter = createRateLimiter(
      config,
      await resolveApiKey(config),
      createDynamoDocumentClient(config),
    );
    const grantedBefore = (await limiter!.snapshot()).state.totals.granted;
    // Act
    const { job, steps } = await stack.run(request);
    // Assess: the items of the first 50 carry a lease each, on distinct slots; the other 10 none
    expect(job.status).toBe('SUCCEEDED');
    expect(job.plan).toMatchObject({ mapMode: 'DISTRIBUTED', maxConcurrency: 50 });
    const object = await createS3Client(config).send(
      new GetObjectCommand({ Bucket: config.itemsBucket, Key: itemsKey(job, 1) }),
    );
    const items = JSON.parse(await object.Body!.transformToString()) as {
      reservation: { slot: number } | null;
    }[];
    expect(items).toHaveLength(60);
    const leased = items.slice(0, 50).map((i) => i.reservation?.slot);
    expect(new Set(leased).size).toBe(50);
    expect(items.slice(50).every((i) => i.reservation === null)).toBe(true);
    // …each used by its first call: one grant per call (60 sub-agents and the synthesizer), not 50 more
    expect(steps).toHaveLength(61);
    const { state } = await limiter!.snapshot();
    expect(state.totals.granted - grantedBefore).toBe(61);
    expect(Object.keys(state.leases)).toEqual([]);
  });
});
