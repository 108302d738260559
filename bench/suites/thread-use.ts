/**
 * How busy the embedded stack's threads were during a load job: the main thread (handlers, the
 * state machine, the SDK clients), its garbage collector, and the threads of dynalite and the
 * simulator. A job whose main thread is busy nearly all the time queues every step behind the
 * others; one whose threads idle waits on something else.
 */
import {
  constants,
  type EventLoopUtilization,
  type PerformanceEntry,
  PerformanceObserver,
  performance,
} from 'node:perf_hooks';

/** What the threads did between two readings. */
export interface ThreadUse {
  /** Share of the time the main thread's event loop was busy (0–1). */
  mainBusy: number;
  /**
   * Time the main thread spent in the collections V8 chose (ms), and in how many pauses; forced
   * ones (`gc()`, which the load job's progress reports call to read the live heap) are left out.
   */
  mainGcMs: number;
  mainGcPauses: number;
  /** The longest of those pauses (ms). */
  longestGcMs: number;
  /** Share of the time dynalite's thread was busy (0–1), when it runs on one. */
  dynaliteBusy?: number;
  /** Share of the time the simulator's thread was busy (0–1), when it runs on one. */
  simulatorBusy?: number;
}

/** A thread's event-loop utilisation now (`performance.eventLoopUtilization` of it). */
export type UtilizationOf = () => EventLoopUtilization;

/** The share of the time busy between two readings of one thread (Node's delta of them), 0 when no time passed. */
export function busyBetween(before: EventLoopUtilization, after: EventLoopUtilization): number {
  const { utilization } = performance.eventLoopUtilization(after, before);
  return Number.isFinite(utilization) ? utilization : 0;
}

/** The pauses' total, count and longest, in ms. */
export function gcSummary(
  pausesMs: readonly number[],
): Pick<ThreadUse, 'mainGcMs' | 'mainGcPauses' | 'longestGcMs'> {
  return {
    mainGcMs: pausesMs.reduce((a, b) => a + b, 0),
    mainGcPauses: pausesMs.length,
    longestGcMs: pausesMs.reduce((a, b) => Math.max(a, b), 0),
  };
}

/** A collection that `gc()` asked for, not one V8 chose. */
export function isForcedGc(entry: PerformanceEntry): boolean {
  const flags = (entry as PerformanceEntry & { detail?: { flags?: number } }).detail?.flags ?? 0;
  return (flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0;
}

/**
 * Starts watching; `stop()` tells what the threads did since. The other threads' readings come
 * from their `Worker.performance`.
 *
 * @example
 * const watch = watchThreads({ dynalite: stack.dynamo.threadUse });
 * await stack.run(request);
 * const use = watch.stop(); // { mainBusy: 0.97, mainGcMs: 180, … }
 */
export function watchThreads(others: { dynalite?: UtilizationOf; simulator?: UtilizationOf }): {
  stop(): ThreadUse;
} {
  const pauses: number[] = [];
  const keep = (entries: readonly PerformanceEntry[]) => {
    for (const entry of entries) if (!isForcedGc(entry)) pauses.push(entry.duration);
  };
  const observer = new PerformanceObserver((list) => keep(list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const main = performance.eventLoopUtilization();
  const dynalite = others.dynalite?.();
  const simulator = others.simulator?.();
  return {
    stop: () => {
      // Entries still buffered for the callback are taken now, not lost with the observer.
      keep(observer.takeRecords());
      observer.disconnect();
      const round = (x: number) => Math.round(x * 1000) / 1000;
      const gc = gcSummary(pauses);
      return {
        mainBusy: round(busyBetween(main, performance.eventLoopUtilization())),
        mainGcMs: Math.round(gc.mainGcMs),
        mainGcPauses: gc.mainGcPauses,
        longestGcMs: Math.round(gc.longestGcMs),
        ...(dynalite && others.dynalite
          ? { dynaliteBusy: round(busyBetween(dynalite, others.dynalite())) }
          : {}),
        ...(simulator && others.simulator
          ? { simulatorBusy: round(busyBetween(simulator, others.simulator())) }
          : {}),
      };
    },
  };
}
