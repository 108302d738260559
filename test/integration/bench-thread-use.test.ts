import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalDynamo, startDynalite } from '#local/emulators/dynamo';
import { busyBetween, gcSummary, isForcedGc, watchThreads } from '../../bench/suites/thread-use';
import { rawRequest } from './dynalite-table';

describe('busyBetween', () => {
  it('is the active share of the time between two readings', () => {
    const before = { active: 100, idle: 300, utilization: 0.25 };
    const after = { active: 400, idle: 400, utilization: 0.5 };
    // 300 ms active and 100 ms idle in between: 0.75, not either reading's own share
    expect(busyBetween(before, after)).toBe(0.75);
  });

  it('is 0 when no time passed', () => {
    const at = { active: 5, idle: 5, utilization: 0.5 };
    expect(busyBetween(at, at)).toBe(0);
  });
});

describe('gcSummary', () => {
  it('adds the pauses up, counts them and keeps the longest', () => {
    expect(gcSummary([2.5, 10, 0.5])).toEqual({ mainGcMs: 13, mainGcPauses: 3, longestGcMs: 10 });
    expect(gcSummary([])).toEqual({ mainGcMs: 0, mainGcPauses: 0, longestGcMs: 0 });
  });
});

describe('watchThreads', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });

  it("sees the main thread's own collections and work, and dynalite's thread working", async () => {
    const watch = watchThreads({ dynalite: dynamo.threadUse });
    // Short-lived garbage enough for V8 to collect the young generation on its own several times.
    let kept = 0;
    for (let i = 0; i < 200_000; i++) kept += new Array(64).fill(i).length;
    // Requests dynalite's thread must parse and answer (an unknown table: validated, then refused).
    const asks = Array.from({ length: 50 }, () =>
      rawRequest(dynamo.endpoint, 'DescribeTable', { TableName: 'nothing-here' }),
    );
    await Promise.all(asks);
    const use = watch.stop();
    expect(kept).toBe(200_000 * 64);
    expect(use.mainGcPauses).toBeGreaterThan(0);
    expect(use.mainGcMs).toBeGreaterThan(0);
    expect(use.longestGcMs).toBeLessThanOrEqual(use.mainGcMs);
    expect(use.mainBusy).toBeGreaterThan(0);
    expect(use.mainBusy).toBeLessThanOrEqual(1);
    expect(use.dynaliteBusy).toBeGreaterThan(0);
    expect(use.simulatorBusy).toBeUndefined();
  });

  it('leaves forced collections out', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const seen: PerformanceEntry[] = [];
    const all = new PerformanceObserver((list) => seen.push(...list.getEntries()));
    all.observe({ entryTypes: ['gc'] });
    const watch = watchThreads({});
    gc();
    gc();
    // GC entries reach observers a turn later.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const use = watch.stop();
    seen.push(...all.takeRecords());
    all.disconnect();
    // The two forced collections happened and were reported; any other (V8 may choose one meanwhile,
    // a test file beside this one allocating) is counted, and only those.
    const chosen = seen.filter((e) => !isForcedGc(e));
    expect(seen.length - chosen.length).toBeGreaterThanOrEqual(2);
    expect(use.mainGcPauses).toBe(chosen.length);
    // Whole milliseconds, as the report gives them.
    expect(use.mainGcMs).toBe(Math.round(chosen.reduce((sum, e) => sum + e.duration, 0)));
  });
});
