import { describe, expect, it } from 'vitest';
import { ConfigError, PlanError } from '#shared/domain/errors';
import { INLINE_MAP_MAX_CONCURRENCY, INLINE_MAP_MAX_ITEMS } from '#shared/domain/fan-out-limits';
import type { ItemStore } from '#shared/ports/item-store';
import {
  type CarriedAssignment,
  MAX_CARRIED_SUBTASK_BYTES,
  MAX_PLAN_PAYLOAD_BYTES,
  planStage,
  subagentSettings,
} from '#shared/use-cases/plan-stage';

const ref = { tenantId: 't-a', jobId: 'job-1' };
/** What the sub-agents get of the job (the Distributed Map's input carries it). */
const settings = {
  workload: 'generic' as const,
  maxOutputTokens: 300,
  deadlineAt: '2026-12-07T06:00:00.000Z',
};
const idsOf = (n: number, prefix = 'S-') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
/** A parallel stage 1 of `subtasks` subtasks, one to a sub-agent, `width` at once. */
const stageOf = (subtasks: number, width: number) => ({
  stage: 1,
  subtaskIds: idsOf(subtasks),
  mode: 'parl' as const,
  itemsPerAgent: 1,
  width,
  settings,
});

/** An item store that keeps the last list of items it was given. */
function keptItems() {
  const kept = { items: [] as CarriedAssignment[] };
  const items: ItemStore = {
    putItems: (_ref, stage, list) => {
      kept.items = list as CarriedAssignment[];
      return Promise.resolve({ bucket: 'b', key: `items/stage-${stage}.json` });
    },
  };
  return { items, kept };
}

describe('planStage', () => {
  it('keeps a narrow stage inline, its assignments in the state, batched as asked', async () => {
    // Act
    const planned = await planStage({}, ref, {
      stage: 1,
      subtaskIds: idsOf(10),
      mode: 'parl',
      itemsPerAgent: 3,
      width: 100,
      settings,
    });
    // Assess
    expect(planned.agents).toBe(4);
    expect(planned.itemsPerAgent).toBe(3);
    expect(planned.output).toMatchObject({ ...ref, stage: 1, maxConcurrency: 4, mapMode: 'INLINE' });
    // The inline Map's sub-agents read their subtasks, and the job with them: no settings in the state.
    expect(planned.output).not.toHaveProperty('settings');
    expect(planned.output.agents?.map((a) => a.subtaskIds.length)).toEqual([3, 3, 3, 1]);
    expect(planned.output.agents?.[0]?.agentId).toBe('agent-0001');
  });

  it('names a later stage’s sub-agents after the stage', async () => {
    const planned = await planStage({}, ref, {
      stage: 3,
      subtaskIds: idsOf(2),
      mode: 'parl',
      itemsPerAgent: 1,
      width: 5,
      settings,
    });
    expect(planned.output.agents?.map((a) => a.agentId)).toEqual(['s3-agent-0001', 's3-agent-0002']);
  });

  it('goes distributed above the inline width, with the assignments in the item store', async () => {
    // Prepare
    const put: number[] = [];
    const items: ItemStore = {
      putItems: (_ref, stage, list) => {
        put.push(list.length);
        return Promise.resolve({ bucket: 'b', key: `items/stage-${stage}.json` });
      },
    };
    const request = {
      stage: 2,
      subtaskIds: idsOf(INLINE_MAP_MAX_CONCURRENCY + 1),
      mode: 'parl' as const,
      itemsPerAgent: 1,
      width: INLINE_MAP_MAX_CONCURRENCY + 1,
      settings,
    };
    // Act
    const planned = await planStage({ items }, ref, request);
    // Assess
    expect(put).toEqual([INLINE_MAP_MAX_CONCURRENCY + 1]);
    expect(planned.output).toMatchObject({
      mapMode: 'DISTRIBUTED',
      items: { key: 'items/stage-2.json' },
      settings,
    });
    expect(planned.output).not.toHaveProperty('agents');
    await expect(planStage({}, ref, request)).rejects.toBeInstanceOf(ConfigError);
  });

  it.each([1, 2])('refuses an inline stage %i whose assignments exceed the state budget', async (stage) => {
    // 900 subtasks with long ids, one agent at once: inline, and far above the payload budget.
    const subtaskIds = idsOf(900, 'x'.repeat(300));
    const request = { stage, subtaskIds, mode: 'parl' as const, itemsPerAgent: 1, width: 1, settings };
    await expect(planStage({}, ref, request)).rejects.toThrow(
      new RegExp(`above the ${MAX_PLAN_PAYLOAD_BYTES}-byte state budget`),
    );
    await expect(planStage({}, ref, request)).rejects.toBeInstanceOf(PlanError);
  });

  it.each([
    ['more items than the inline Map keeps in its history', idsOf(INLINE_MAP_MAX_ITEMS + 1), 1],
    ['narrow and few, but assignments above the state budget', idsOf(200 * 30, 'x'.repeat(40)), 30],
  ])('goes distributed with %s', async (_case, subtaskIds, itemsPerAgent) => {
    // Prepare
    const items: ItemStore = { putItems: () => Promise.resolve({ bucket: 'b', key: 'items/stage-1.json' }) };
    const request = { stage: 1, subtaskIds, mode: 'parl' as const, itemsPerAgent, width: 1, settings };
    // Act
    const planned = await planStage({ items }, ref, request);
    // Assess
    expect(planned.output).toMatchObject({ mapMode: 'DISTRIBUTED', maxConcurrency: 1 });
    expect(planned.agents).toBeLessThanOrEqual(subtaskIds.length);
  });

  it('writes the plan’s record beside the items’ put, with the stage’s shape: both on their way at once', async () => {
    // Prepare: a put that ends a few turns after it starts; each side notes when it starts and ends
    const events: string[] = [];
    const items: ItemStore = {
      putItems: async () => {
        events.push('put starts');
        await new Promise((r) => setTimeout(r, 5));
        events.push('put ends');
        return { bucket: 'b', key: 'items/stage-1.json' };
      },
    };
    const shapes: unknown[] = [];
    const request = stageOf(300, 100);
    // Act
    const planned = await planStage({ items }, ref, request, async (shape) => {
      events.push('record starts');
      shapes.push(shape);
      await new Promise((r) => setTimeout(r, 1));
      events.push('record ends');
    });
    // Assess: the record started before the put ended (one after the other, it would start after)
    expect(events.indexOf('record starts')).toBeLessThan(events.indexOf('put ends'));
    expect(events).toHaveLength(4);
    expect(shapes).toEqual([{ agents: 300, itemsPerAgent: 1, maxConcurrency: 100, mapMode: 'DISTRIBUTED' }]);
    expect(planned.output).toMatchObject({ mapMode: 'DISTRIBUTED', items: { key: 'items/stage-1.json' } });
  });

  it('writes the plan’s record of an inline stage before it returns', async () => {
    // Prepare
    const shapes: unknown[] = [];
    const request = stageOf(3, 2);
    // Act
    await planStage({}, ref, request, (shape) => {
      shapes.push(shape);
      return Promise.resolve();
    });
    // Assess
    expect(shapes).toEqual([{ agents: 3, itemsPerAgent: 1, maxConcurrency: 2, mapMode: 'INLINE' }]);
  });

  it.each([
    ['the put fails', true, false, 'no bucket'],
    ['the record fails', false, true, 'job cancelled'],
    ['both fail (the put’s error first)', true, true, 'no bucket'],
  ])('fails when %s, once both have ended', async (_case, putFails, recordFails, message) => {
    // Prepare
    let recordEnded = false;
    const items: ItemStore = {
      putItems: () =>
        putFails ? Promise.reject(new Error('no bucket')) : Promise.resolve({ bucket: 'b', key: 'k' }),
    };
    const request = stageOf(300, 100);
    // Act
    const planning = planStage({ items }, ref, request, async () => {
      await new Promise((r) => setTimeout(r, 5));
      recordEnded = true;
      if (recordFails) throw new Error('job cancelled');
    });
    // Assess: no write is still on its way when planning fails (a Lambda would freeze it)
    await expect(planning).rejects.toThrow(message);
    expect(recordEnded).toBe(true);
  });

  it('puts each sub-agent’s subtasks in its Distributed Map item when known and small, else none', async () => {
    // Prepare: 3 subtasks a sub-agent; the second sub-agent's are too large to carry.
    const { items, kept } = keptItems();
    const subtaskIds = idsOf(INLINE_MAP_MAX_ITEMS + 1);
    const big = 'x'.repeat(Math.ceil(MAX_CARRIED_SUBTASK_BYTES / 3));
    const subtasks = subtaskIds.map((id, i) => ({ id, prompt: i >= 3 && i < 6 ? big : `What is ${id}?` }));
    const request = { stage: 1, subtaskIds, mode: 'parl' as const, itemsPerAgent: 3, width: 100, settings };
    // Act
    await planStage({ items }, ref, { ...request, subtasks });
    const carried = kept.items;
    await planStage({ items }, ref, request);
    // Assess
    expect(carried[0]).toEqual({
      agentId: 'agent-0001',
      subtaskIds: ['S-1', 'S-2', 'S-3'],
      subtasks: subtasks.slice(0, 3),
      reservation: null,
    });
    expect(carried[1]?.subtasks).toEqual([]);
    expect(carried[2]?.subtasks.map((s) => s.id)).toEqual(['S-7', 'S-8', 'S-9']);
    expect(carried.at(-1)?.subtasks.map((s) => s.id)).toEqual(['S-250', 'S-251']);
    expect(kept.items.every((item) => item.subtasks.length === 0)).toBe(true);
  });

  it('carries none for a sub-agent whose subtasks the plan knows only in part, and up to exactly the limit', async () => {
    // Prepare: agent 1's subtasks are partly known; agent 2's JSON is exactly the limit; agent 3's one byte more.
    const { items, kept } = keptItems();
    const subtaskIds = idsOf(INLINE_MAP_MAX_ITEMS + 1);
    const sized = (id: string, bytes: number) => {
      const bare = Buffer.byteLength(JSON.stringify([{ id, prompt: '' }]));
      return { id, prompt: 'p'.repeat(bytes - bare) };
    };
    const subtasks = [
      { id: 'S-1', prompt: 'known' },
      sized('S-2', MAX_CARRIED_SUBTASK_BYTES),
      sized('S-3', MAX_CARRIED_SUBTASK_BYTES + 1),
    ];
    const request = { stage: 1, subtaskIds, mode: 'parl' as const, itemsPerAgent: 1, width: 100, settings };
    // Act: S-1 alone is known of a first sub-agent given S-1 and S-2 (two a sub-agent) …
    await planStage({ items }, ref, { ...request, itemsPerAgent: 2, subtasks: [subtasks[0]!] });
    const partial = kept.items[0];
    // … and one a sub-agent: S-2 at the limit, S-3 above it.
    await planStage({ items }, ref, { ...request, subtasks });
    // Assess
    expect(partial?.subtaskIds).toEqual(['S-1', 'S-2']);
    expect(partial?.subtasks).toEqual([]);
    expect(kept.items.slice(0, 3).map((item) => item.subtasks)).toEqual([[subtasks[0]], [subtasks[1]], []]);
  });

  it('gives one sequential sub-agent every subtask, and says how many it was given', async () => {
    const planned = await planStage({}, ref, {
      stage: 1,
      subtaskIds: idsOf(3),
      mode: 'sequential',
      itemsPerAgent: 1,
      width: 5,
      settings,
    });
    expect(planned.output.agents).toEqual([{ agentId: 'agent-0001', subtaskIds: ['S-1', 'S-2', 'S-3'] }]);
    expect(planned.itemsPerAgent).toBe(3);
  });

  it('plans a stage of no subtasks with the batching asked for', async () => {
    const planned = await planStage({}, ref, {
      stage: 1,
      subtaskIds: [],
      mode: 'parl',
      itemsPerAgent: 4,
      width: 5,
      settings,
    });
    expect(planned).toMatchObject({ agents: 0, itemsPerAgent: 4 });
  });

  it('keeps inline a plan of exactly the state budget, and names the missing bucket past it', async () => {
    // Prepare: ten sub-agents, one at once; the first id padded so the plan is exactly the budget.
    const request = (ids: string[]) => ({
      stage: 1,
      subtaskIds: ids,
      mode: 'parl' as const,
      itemsPerAgent: 1,
      width: 1,
      settings,
    });
    const ids = idsOf(10, 'x'.repeat(10_000));
    const first = await planStage({}, ref, request(ids));
    const pad = MAX_PLAN_PAYLOAD_BYTES - Buffer.byteLength(JSON.stringify(first.output));
    const exact = [`${ids[0]}${'y'.repeat(pad)}`, ...ids.slice(1)];
    // Act
    const planned = await planStage({}, ref, request(exact));
    // Assess
    expect(Buffer.byteLength(JSON.stringify(planned.output))).toBe(MAX_PLAN_PAYLOAD_BYTES);
    expect(planned.output.mapMode).toBe('INLINE');
    const wide = { ...request(idsOf(INLINE_MAP_MAX_CONCURRENCY + 1)), width: INLINE_MAP_MAX_CONCURRENCY + 1 };
    await expect(planStage({}, ref, wide)).rejects.toThrow(
      'ITEMS_BUCKET: is required to plan a Distributed Map',
    );
  });
});

describe('subagentSettings', () => {
  const budget = (n: number) => ({ fullBudget: 1000, budget: n, reduced: n < 1000, reason: 'test' });

  it('takes the plan’s budget over the request’s, and the plan’s deadline', () => {
    const request = { workload: 'generic' as const, maxOutputTokens: 500 };
    expect(subagentSettings(request, { budget: budget(40), deadlineAt: '2026-12-07T06:00:00.000Z' })).toEqual(
      {
        workload: 'generic',
        maxOutputTokens: 40,
        deadlineAt: '2026-12-07T06:00:00.000Z',
      },
    );
    expect(subagentSettings(request, {})).toEqual({ workload: 'generic', maxOutputTokens: 500 });
    expect(subagentSettings({ workload: 'bma-compliance' }, undefined)).toEqual({
      workload: 'bma-compliance',
    });
  });
});
