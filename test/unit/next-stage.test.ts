import { describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/domain/errors';
import type { ItemStore } from '#shared/ports/item-store';
import type { JobRecord, JobStore, SubtaskResult } from '#shared/ports/job-store';
import { planNextStage } from '#shared/use-cases/next-stage';

const ref = { tenantId: 't-a', jobId: 'job-1' };
const ids = Array.from({ length: 60 }, (_, i) => `S-${i + 1}`);
const job = {
  ...ref,
  status: 'RUNNING',
  acceptedAt: '2026-11-29T00:00:00.000Z',
  request: { task: 'Sums', workload: 'generic', mode: 'parl', maxStages: 2 },
  plan: {
    stage: 1,
    agents: 60,
    maxConcurrency: 50,
    mapMode: 'DISTRIBUTED',
    subtasks: 60,
    decomposedBy: 'request',
    itemsPerAgent: 1,
  },
} as unknown as JobRecord;
/** Every subtask but the first failed: 59 go again, 50 at once, so the next stage is distributed. */
const results: SubtaskResult[] = ids.map((subtaskId, i) => ({
  subtaskId,
  agentId: `agent-${i}`,
  stage: 1,
  status: i === 0 ? 'ANSWERED' : 'FAILED',
}));
const store = { updateJob: () => Promise.resolve() } as unknown as JobStore;

describe('planNextStage', () => {
  it('puts a distributed next stage’s assignments in S3 for the ItemReader, not in the state', async () => {
    // Prepare
    const put: { stage: number; agents: number }[] = [];
    const items: ItemStore = {
      putItems: (_ref, stage, list) => {
        put.push({ stage, agents: list.length });
        return Promise.resolve({ bucket: 'b', key: `items/t-a/job-1/stage-${stage}.json` });
      },
    };
    // Act
    const next = await planNextStage({ store, items }, ref, job, 1, ids, results);
    // Assess
    expect(put).toEqual([{ stage: 2, agents: 59 }]);
    expect(next).toMatchObject({
      status: 'NEXT_STAGE',
      stage: 2,
      mapMode: 'DISTRIBUTED',
      maxConcurrency: 50,
    });
    expect(next?.items).toEqual({ bucket: 'b', key: 'items/t-a/job-1/stage-2.json' });
    expect(next).not.toHaveProperty('agents');
  });

  it('names ITEMS_BUCKET when a distributed next stage has nowhere to put its items', async () => {
    await expect(planNextStage({ store }, ref, job, 1, ids, results)).rejects.toBeInstanceOf(ConfigError);
  });
});
