import { describe, expect, it } from 'vitest';
import { ProviderRejectedError } from '#shared/domain/errors';
import { synthesizerSystemPrompt } from '#shared/domain/prompts';
import { estimateTokens } from '#shared/domain/provider-limits';
import type { LeaseReserver } from '#shared/ports/rate-limiter';
import { aggregateJob } from '#shared/use-cases/aggregate-job';
import { LEASE_AHEAD_WITHIN_MS, leaseAhead } from '#shared/use-cases/lease-ahead';
import { agent, answered, job, LEASE_AHEAD, NEXT_STAGE, REF, world } from './aggregate-fakes';

const done = { agents: [agent('agent-0001', 'SUCCEEDED')], results: [answered('a', { answer: 'A' })] };

describe("aggregateJob: the synthesizer's lease, taken beside the load", () => {
  it('asks for it before the load and hands it to the synthesis call, which keeps it', async () => {
    // Prepare
    const { deps, seen } = world({ stored: job(), ...done, leases: 'grants' });
    // Act
    const out = await aggregateJob(deps, { ...REF, stage: 1 });
    // Assess: one orchestrator lease, sized on the synthesis's prompt so far and its output budget
    expect(out).toMatchObject({ status: 'SUCCEEDED' });
    expect(seen.order.slice(0, 2)).toEqual(['reserve', 'getJob']);
    expect(seen.reserved).toEqual([
      [
        {
          role: 'orchestrator',
          tenantId: 't1',
          estimatedTokens: estimateTokens(synthesizerSystemPrompt.length, 1500),
        },
        1,
        LEASE_AHEAD_WITHIN_MS,
      ],
    ]);
    expect(seen.asked).toHaveLength(1);
    expect(await seen.asked[0]?.reserved).toEqual(LEASE_AHEAD);
    expect(seen.unreserved).toEqual([]);
  });

  it.each([
    ['every sub-agent failed', { stored: job(), agents: [agent('agent-0001', 'FAILED', 'timed out')] }],
    ['the job was already terminal', { stored: job({ status: 'SUCCEEDED' }), ...done }],
    ['the job was not found', {}],
    ['a next stage is planned', NEXT_STAGE],
  ])('gives it back when there is no synthesis: %s', async (_case, opts) => {
    const { deps, seen } = world({ ...opts, leases: 'grants' });
    await aggregateJob(deps, { ...REF, stage: 1 });
    expect(seen.asked).toEqual([]);
    expect(seen.reserved).toHaveLength(1);
    expect(seen.unreserved).toEqual([LEASE_AHEAD]);
  });

  it('takes none on the failure path, nor without a stage (FinalizeFailure)', async () => {
    const failing = world({ stored: job(), ...done, leases: 'grants' });
    await aggregateJob(failing.deps, { ...REF, stage: 1, failure: { Error: 'States.Timeout' } });
    expect(failing.seen.reserved).toEqual([]);
    const stageless = world({ stored: job(), ...done, leases: 'grants' });
    await aggregateJob(stageless.deps, REF);
    expect(stageless.seen.reserved).toEqual([]);
    expect(stageless.seen.asked).toHaveLength(1);
    expect(stageless.seen.asked[0]?.reserved).toBeUndefined();
  });

  it('leaves the call to take its lease as usual when the reservation fails', async () => {
    const { deps, seen } = world({ stored: job(), ...done, leases: 'fails' });
    const out = await aggregateJob(deps, { ...REF, stage: 1 });
    expect(out).toMatchObject({ status: 'SUCCEEDED' });
    expect(await seen.asked[0]?.reserved).toBeUndefined();
    expect(seen.unreserved).toEqual([]);
  });

  it('does not give back a lease it handed to the call, when the provider then refuses the synthesis', async () => {
    const { deps, seen } = world({
      stored: job(),
      ...done,
      leases: 'grants',
      reply: { throws: new ProviderRejectedError('insufficient balance', { status: 403 }) },
    });
    const out = await aggregateJob(deps, { ...REF, stage: 1 });
    expect(out).toMatchObject({ status: 'FAILED' });
    expect(await seen.asked[0]?.reserved).toEqual(LEASE_AHEAD);
    expect(seen.unreserved).toEqual([]);
  });
});

describe('leaseAhead', () => {
  const reserver = (given: string[]): LeaseReserver => ({
    reserve: () => Promise.resolve([LEASE_AHEAD]),
    unreserve: (lease) => {
      given.push(lease.id);
      return Promise.resolve();
    },
  });

  it('hands its lease to the first taker only, and gives back none once taken', async () => {
    const given: string[] = [];
    const lease = leaseAhead(reserver(given), {
      role: 'orchestrator',
      tenantId: 't',
      promptChars: 40,
      maxTokens: 10,
    });
    expect(await lease.take()).toEqual(LEASE_AHEAD);
    expect(await lease.take()).toBeUndefined();
    await lease.unused();
    expect(given).toEqual([]);
  });

  it('gives back an untaken lease once, and then has none to hand out', async () => {
    const given: string[] = [];
    const lease = leaseAhead(reserver(given), {
      role: 'orchestrator',
      tenantId: 't',
      promptChars: 40,
      maxTokens: 10,
    });
    await lease.unused();
    await lease.unused();
    expect(given).toEqual(['lease-1']);
    expect(await lease.take()).toBeUndefined();
  });
});
