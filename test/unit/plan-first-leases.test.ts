import { describe, expect, it } from 'vitest';
import type { ItemStore } from '#shared/ports/item-store';
import type { AcquireOptions, LeaseReserver, ReservedLease } from '#shared/ports/rate-limiter';
import { type CarriedAssignment, FIRST_LEASES_WITHIN_MS, planStage } from '#shared/use-cases/plan-stage';

const ref = { tenantId: 't-a', jobId: 'job-1' };
const settings = { workload: 'generic' as const, maxOutputTokens: 300 };
/** A parallel stage 1 of `n` subtasks, one to a sub-agent, `width` at once. */
const stageOf = (n: number, width: number) => {
  const subtaskIds = Array.from({ length: n }, (_, i) => `S-${i + 1}`);
  return {
    stage: 1,
    subtaskIds,
    subtasks: subtaskIds.map((id) => ({ id, prompt: `What is ${id}?` })),
    mode: 'parl' as const,
    itemsPerAgent: 1,
    width,
    settings,
  };
};

/** A reserver granting `grants` of what it is asked (all when undefined), and what went back. */
function reserver(grants?: number) {
  const asked: { options: AcquireOptions; count: number; withinMs: number }[] = [];
  const givenBack: string[] = [];
  const r: LeaseReserver = {
    reserve: (options, count, withinMs) => {
      asked.push({ options, count, withinMs });
      const n = Math.min(count, grants ?? count);
      return Promise.resolve(
        Array.from({ length: n }, (_, i): ReservedLease => ({ id: `lease-${i}`, waitedMs: 0, limiterMs: 0 })),
      );
    },
    unreserve: (lease) => {
      givenBack.push(lease.id);
      return Promise.resolve();
    },
  };
  return { r, asked, givenBack };
}

function keptItems(fail = false) {
  const kept = { items: [] as CarriedAssignment[] };
  const items: ItemStore = {
    putItems: (_ref, _stage, list) => {
      kept.items = list as CarriedAssignment[];
      return fail ? Promise.reject(new Error('bucket gone')) : Promise.resolve({ bucket: 'b', key: 'k' });
    },
  };
  return { items, kept };
}

describe('planStage: the leases of the Map’s first calls, taken ahead', () => {
  it('takes one for each sub-agent the Map starts at once and puts each in its item; the rest carry none', async () => {
    const { r, asked } = reserver();
    const { items, kept } = keptItems();
    await planStage({ items, firstLeases: { reserver: r, most: 1_000 } }, ref, stageOf(300, 100));
    expect(asked).toHaveLength(1);
    expect(asked[0]?.count).toBe(100);
    expect(asked[0]?.withinMs).toBe(FIRST_LEASES_WITHIN_MS);
    expect(asked[0]?.options).toMatchObject({ role: 'subagent', tenantId: 't-a' });
    expect(asked[0]?.options.estimatedTokens).toBeGreaterThan(settings.maxOutputTokens);
    expect(kept.items.slice(0, 100).map((a) => a.reservation?.id)).toEqual(
      Array.from({ length: 100 }, (_, i) => `lease-${i}`),
    );
    expect(kept.items.slice(100).every((a) => a.reservation === null)).toBe(true);
  });

  it('takes at most `most`, and puts only those the key granted', async () => {
    const few = reserver(3);
    const { items, kept } = keptItems();
    await planStage({ items, firstLeases: { reserver: few.r, most: 10 } }, ref, stageOf(300, 100));
    expect(few.asked[0]?.count).toBe(10);
    expect(kept.items.filter((a) => a.reservation !== null)).toHaveLength(3);
  });

  it('gives every lease back when the items cannot be stored', async () => {
    const { r, givenBack } = reserver();
    const { items } = keptItems(true);
    const planning = planStage({ items, firstLeases: { reserver: r, most: 5 } }, ref, stageOf(300, 100));
    await expect(planning).rejects.toThrow('bucket gone');
    expect(givenBack).toEqual(['lease-0', 'lease-1', 'lease-2', 'lease-3', 'lease-4']);
  });

  it('takes none for an inline stage (its items carry no lease)', async () => {
    const { r, asked } = reserver();
    const planned = await planStage({ firstLeases: { reserver: r, most: 1_000 } }, ref, stageOf(10, 10));
    expect(planned.output.mapMode).toBe('INLINE');
    expect(asked).toEqual([]);
  });
});
