import { describe, expect, it } from 'vitest';
import { applyReward, emptyPolicy, type PolicyState } from '#shared/domain/policy';
import type { RewardWeights } from '#shared/domain/types';
import type { PlanPolicy } from '#shared/ports/job-store';
import type { PolicyStore } from '#shared/ports/policy-store';
import {
  decideFanOut,
  type FanOutDeps,
  getPolicies,
  learnFromJob,
  policyModeOf,
  scoringWeights,
} from '#shared/use-cases/policy';

/** An in-memory PolicyStore holding `policies` in the order given (as a table scan may return them). */
function fakePolicies(policies: PolicyState[] = []): PolicyStore & { stored: Map<string, PolicyState> } {
  const stored = new Map(policies.map((p) => [`${p.tenantId}/${p.taskClass}`, p]));
  return {
    stored,
    get: (tenantId, taskClass) => Promise.resolve(stored.get(`${tenantId}/${taskClass}`)),
    list: (tenantId) => Promise.resolve([...stored.values()].filter((p) => p.tenantId === tenantId)),
    update: (tenantId, taskClass, initial, change) => {
      const next = change(stored.get(`${tenantId}/${taskClass}`) ?? initial());
      stored.set(`${tenantId}/${taskClass}`, next);
      return Promise.resolve(next);
    },
  };
}

/** A policy of `acme`'s class `sums` whose arms earned the given rewards, each job with r_perf `rPerf`. */
function trained(rewards: Record<string, number[]>, rPerf = 0.5): PolicyState {
  let state = emptyPolicy('acme', 'sums');
  let job = 0;
  for (const [armId, rs] of Object.entries(rewards)) {
    const arm = state.arms.find((a) => a.id === armId)!;
    for (const reward of rs) {
      job += 1;
      state = applyReward(state, { jobId: `j${job}`, subtasks: 16, width: arm.width, armId, reward, rPerf });
    }
  }
  return state;
}

const config: FanOutDeps['config'] = { defaultMaxSubagents: 4 };
const request = { workload: 'generic', taskClass: 'sums', mode: 'parl' } as const;

describe('policyModeOf', () => {
  it('runs a sequential job without a policy, whatever policy it asks for', () => {
    expect(policyModeOf({ mode: 'sequential', policy: 'learn' })).toBe('off');
  });

  it('runs a parallel job that asks for no policy without one', () => {
    expect(policyModeOf({ mode: 'parl' })).toBe('off');
  });
});

describe('decideFanOut', () => {
  it("gives the sub-agents the request's output budget, else the config's, else 1000 tokens", async () => {
    // Prepare
    const deps: FanOutDeps = { config: { ...config, maxOutputTokens: 800 } };
    // Act
    const byRequest = await decideFanOut(deps, 'acme', { ...request, maxOutputTokens: 500 }, 4);
    const byConfig = await decideFanOut(deps, 'acme', request, 4);
    const byDefault = await decideFanOut({ config }, 'acme', request, 4);
    // Assess
    expect([byRequest, byConfig, byDefault].map((d) => d.budget.budget)).toEqual([500, 800, 1000]);
  });

  it('says why a job without a policy keeps the full budget', async () => {
    // Act
    const decision = await decideFanOut({ config }, 'acme', request, 4);
    // Assess
    expect(decision.budget).toEqual({ fullBudget: 1000, budget: 1000, reduced: false, reason: 'TOGGLE off' });
  });

  it('runs a sequential job as one sub-agent doing every subtask, even when it asks for a policy', async () => {
    // Prepare
    const deps: FanOutDeps = { config, policies: fakePolicies() };
    // Act
    const decision = await decideFanOut(deps, 'acme', { ...request, mode: 'sequential', policy: 'learn' }, 5);
    // Assess
    expect(decision).toMatchObject({ width: 1, itemsPerAgent: 5 });
    expect(decision.policy).toBeUndefined();
  });

  it('uses no policy for a parallel job that asks for none, though the policies can be read', async () => {
    // Prepare
    const deps: FanOutDeps = { config, policies: fakePolicies() };
    // Act
    const decision = await decideFanOut(deps, 'acme', request, 16);
    // Assess
    expect(decision.policy).toBeUndefined();
    expect(decision).toMatchObject({ width: 4, itemsPerAgent: 1 });
  });

  it('lets the configured seed decide which untried arm a learning job tries first', async () => {
    // Prepare
    const policies = fakePolicies();
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
    // Act
    const arms = await Promise.all(
      seeds.map(async (seed) => {
        const deps: FanOutDeps = { policies, config: { ...config, policy: { annealJobs: 0, seed } } };
        return (await decideFanOut(deps, 'acme', { ...request, policy: 'learn' }, 16)).policy?.armId;
      }),
    );
    // Assess
    expect(new Set(arms).size).toBeGreaterThan(1);
  });

  it('chooses without a configured seed as with the default seed of 1', async () => {
    // Prepare
    const policies = fakePolicies();
    const learn = { ...request, policy: 'learn' } as const;
    // Act
    const unseeded = await decideFanOut({ policies, config }, 'acme', learn, 16);
    const seeded = await decideFanOut(
      { policies, config: { ...config, policy: { annealJobs: 0, seed: 1 } } },
      'acme',
      learn,
      16,
    );
    // Assess
    expect(unseeded.policy?.armId).toBe(seeded.policy?.armId);
  });

  it("lets a greedy job with no rewards yet use an arm as wide as the tenant's cap", async () => {
    // Prepare
    const deps: FanOutDeps = { config, policies: fakePolicies() };
    // Act
    const decision = await decideFanOut(deps, 'acme', { ...request, policy: 'greedy' }, 16, 8);
    // Assess
    expect(decision.width).toBe(8);
    expect(decision.policy?.armId).toBe('w8');
  });

  it("runs an arm wider than the tenant's cap at the cap when every arm of the policy is wider", async () => {
    // Prepare
    const wide = emptyPolicy('acme', 'sums', [
      { id: 'w16', width: 16 },
      { id: 'w32', width: 32 },
    ]);
    const deps: FanOutDeps = { config, policies: fakePolicies([wide]) };
    // Act
    const decision = await decideFanOut(deps, 'acme', { ...request, policy: 'greedy' }, 32, 8);
    // Assess
    expect(decision.width).toBe(8);
  });

  it('runs the width of the arm a greedy job chose when the tenant has no cap', async () => {
    // Prepare
    const state = trained({ w2: [0.5], w4: [0.9], w16: [0.3] });
    const deps: FanOutDeps = { config, policies: fakePolicies([state]) };
    // Act
    const decision = await decideFanOut(deps, 'acme', { ...request, policy: 'greedy' }, 16);
    // Assess
    expect(decision).toMatchObject({ width: 4, itemsPerAgent: 4, policy: { armId: 'w4' } });
  });

  it('records nothing as pinned when the request leaves the width and the batching to the policy', async () => {
    // Prepare
    const deps: FanOutDeps = { config, policies: fakePolicies() };
    // Act
    const decision = await decideFanOut(deps, 'acme', { ...request, policy: 'learn' }, 16);
    // Assess
    expect(decision.policy?.pinned).toEqual([]);
  });

  it("keeps the full budget for a job that turns TOGGLE off, though the class's r_perf is high and stable", async () => {
    // Prepare
    const state = trained({ w4: [0.9, 0.9, 0.9] }, 0.97);
    const deps: FanOutDeps = { config, policies: fakePolicies([state]) };
    const greedy = { ...request, policy: 'greedy' } as const;
    const toggled = await decideFanOut(deps, 'acme', greedy, 16);
    // Act
    const decision = await decideFanOut(deps, 'acme', { ...greedy, toggle: false }, 16);
    // Assess
    expect(toggled.budget.reduced).toBe(true);
    expect(decision.budget).toEqual({
      fullBudget: 1000,
      budget: 1000,
      reduced: false,
      reason: 'TOGGLE off for this job',
    });
  });
});

describe('learnFromJob', () => {
  it('teaches the arm the policy chose, even when a narrower arm would have run the same fan-out', async () => {
    // Prepare
    const policies = fakePolicies();
    // w16 for 8 subtasks runs 8 sub-agents of one subtask each, as w8 would.
    const policy: PlanPolicy = {
      taskClass: 'sums',
      mode: 'learn',
      armId: 'w16',
      reason: 'untried',
      policyVersion: 0,
      width: 8,
      itemsPerAgent: 1,
      pinned: [],
    };
    // Act
    const learned = await learnFromJob(
      { policies },
      { tenantId: 'acme', jobId: 'j1', policy, subtasks: 8, reward: 0.7, rPerf: 1 },
    );
    // Assess
    expect(learned.stats.w16?.n).toBe(1);
    expect(learned.stats.w8).toBeUndefined();
  });
});

describe('getPolicies', () => {
  const a = emptyPolicy('acme', 'a');
  const b = emptyPolicy('acme', 'b');

  it('reports only the policy of the task class asked for', async () => {
    // Act
    const views = await getPolicies({ policies: fakePolicies([b, a]) }, 'acme', 'b');
    // Assess
    expect(views.map((v) => v.taskClass)).toEqual(['b']);
  });

  it('reports an empty list for a task class without a policy', async () => {
    expect(await getPolicies({ policies: fakePolicies([a]) }, 'acme', 'none')).toEqual([]);
  });

  it('reports every policy of the tenant by task class, whatever order the store keeps', async () => {
    // Act
    const views = await getPolicies({ policies: fakePolicies([b, a]) }, 'acme');
    // Assess
    expect(views.map((v) => v.taskClass)).toEqual(['a', 'b']);
  });
});

describe('scoringWeights', () => {
  it('scores with the base weights when annealing is off, even when the policies cannot be read', async () => {
    // Prepare
    const base: RewardWeights = { parallel: 0.2, finish: 0.3, perf: 0.5 };
    const unreadable: PolicyStore = {
      ...fakePolicies(),
      get: () => Promise.reject(new Error('table unreachable')),
    };
    // Act
    const weights = await scoringWeights({ policies: unreadable }, 'acme', 'sums', base, 0);
    // Assess
    expect(weights).toEqual(base);
  });
});
