import { describe, expect, it } from 'vitest';
import { LimitedLlm } from '#shared/adapters/llm/limited-llm';
import { TransientError } from '#shared/domain/errors';
import type { CallOutcome } from '#shared/domain/provider-limits';
import type { JobStore, StepRecorder } from '#shared/ports/job-store';
import type { ChatRequest, LlmClient } from '#shared/ports/llm';
import type { AcquireOptions, LimiterLease, RateLimiter, ReservedLease } from '#shared/ports/rate-limiter';
import { runSubagent } from '#shared/use-cases/run-subagent';
import { config, input, runningJob, subtasks, llm as yes } from './subagent-fixtures';

const planned: ReservedLease = { id: 'planned', waitedMs: 0, limiterMs: 0, slot: 7 };
const retry = { maxRetries: 0, backoffBaseMs: 1, backoffCapMs: 1, maxWaitMs: 1_000 };

/** A sub-agent of the given attempt whose model sees which lease each call brought, and what went back. */
function world(attempt: number, opts: { failLoad?: boolean } = {}) {
  const brought: (ReservedLease | undefined)[] = [];
  const givenBack: string[] = [];
  const store = {
    getJobAndSubtasks: () =>
      opts.failLoad
        ? Promise.reject(new Error('table gone'))
        : Promise.resolve({ job: runningJob(), subtasks }),
    getDatasetItem: () => Promise.resolve(undefined),
    putResult: () => Promise.resolve(),
  } as Partial<JobStore> as JobStore;
  const steps = {
    nextAttempt: () => Promise.resolve(attempt),
    recordStep: () => Promise.resolve(),
    finishAgent: () => Promise.resolve(),
  } as Partial<StepRecorder> as StepRecorder;
  const llm: LlmClient = {
    model: 'sim',
    chat: async (request: ChatRequest) => {
      brought.push(request.reserved ? await request.reserved : undefined);
      return yes.chat(request);
    },
  };
  const leases = {
    unreserve: (lease: ReservedLease) => {
      givenBack.push(lease.id);
      return Promise.resolve();
    },
  };
  return { deps: { store, steps, llm, leases, config }, brought, givenBack };
}

describe('a sub-agent’s first call and the lease its plan took for it', () => {
  it('the first invocation’s first call brings it; later calls bring none; nothing goes back', async () => {
    const w = world(1);
    const out = await runSubagent(w.deps, { ...input, reservation: planned });
    expect(out.status).toBe('SUCCEEDED');
    expect(w.brought).toEqual([planned, undefined]);
    expect(w.givenBack).toEqual([]);
  });

  it('a retried invocation gives it back (the first may have used it) and its call brings none', async () => {
    const w = world(2);
    await runSubagent(w.deps, { ...input, reservation: planned });
    expect(w.brought).toEqual([undefined, undefined]);
    expect(w.givenBack).toEqual(['planned']);
  });

  it('gives it back when the sub-agent fails before any call', async () => {
    const w = world(1, { failLoad: true });
    await expect(runSubagent(w.deps, { ...input, reservation: planned })).rejects.toThrow('table gone');
    expect(w.brought).toEqual([]);
    expect(w.givenBack).toEqual(['planned']);
  });

  it('without one (null from the Map, or none) its calls bring none and nothing goes back', async () => {
    const w = world(1);
    await runSubagent(w.deps, { ...input, reservation: null });
    await runSubagent(w.deps, input);
    expect(w.brought).toEqual([undefined, undefined, undefined, undefined]);
    expect(w.givenBack).toEqual([]);
  });
});

describe('LimitedLlm with a lease taken ahead', () => {
  /** A limiter that records what each acquire brought and each release's outcome. */
  function limiter() {
    const acquired: (ReservedLease | undefined)[] = [];
    const released: { id: string; outcome: CallOutcome }[] = [];
    let n = 0;
    const l: RateLimiter = {
      acquire: (options: AcquireOptions) => {
        acquired.push(options.reserved);
        return Promise.resolve(
          options.reserved ?? ({ id: `lease-${++n}`, waitedMs: 0, limiterMs: 0 } as LimiterLease),
        );
      },
      release: (lease, outcome) => {
        released.push({ id: lease.id, outcome });
        return Promise.resolve();
      },
      freeSlots: () => Promise.resolve(0),
      snapshot: () => Promise.reject(new Error('not used')),
    };
    return { l, acquired, released };
  }
  const messages = [{ role: 'user' as const, content: 'hi' }];

  it('hands it to the first acquire only: a retried attempt takes its own', async () => {
    const { l, acquired } = limiter();
    let calls = 0;
    const flaky: LlmClient = {
      model: 'm',
      chat: (request) => (calls++ === 0 ? Promise.reject(new TransientError('503')) : yes.chat(request)),
    };
    const llm = new LimitedLlm(flaky, l, { ...retry, maxRetries: 1 }, async () => undefined);
    await llm.chat({ messages, reserved: Promise.resolve(planned) });
    expect(acquired).toEqual([planned, undefined]);
  });

  it('gives it back with a neutral release when the deadline has passed before the call', async () => {
    const { l, acquired, released } = limiter();
    const llm = new LimitedLlm(yes, l, retry, async () => undefined);
    const aborted = new AbortController();
    aborted.abort(new Error('deadline'));
    const deadline = { signal: aborted.signal, notAfter: Date.now() - 1 };
    await expect(llm.chat({ messages, deadline, reserved: Promise.resolve(planned) })).rejects.toThrow();
    expect(acquired).toEqual([]);
    expect(released).toEqual([{ id: 'planned', outcome: { kind: 'rejected' } }]);
  });
});
