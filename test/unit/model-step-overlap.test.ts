import { describe, expect, it } from 'vitest';
import type { StepRecord } from '#shared/domain/types';
import type { JobRef, StepRecorder } from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ChatResponse, LlmClient } from '#shared/ports/llm';
import { modelStep } from '#shared/use-cases/model-step';

const REF: JobRef = { tenantId: 't1', jobId: 'j1' };
const CTX = { ref: REF, stage: 1, role: 'sub' as const, agentId: 'agent-0001', step: 1, attempt: 1 };
const ANSWER: ChatResponse = {
  content: '4',
  toolCalls: [],
  finishReason: 'stop',
  model: 'kimi-k2.5',
  usage: { inputTokens: 10, outputTokens: 1, cachedInputTokens: 0 },
};

/** A promise with its resolve, to hold a fake's write open until the test lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('modelStep after a successful call', () => {
  it("writes the step's record and completes the ledger at the same time, not one after the other", async () => {
    // Prepare: the record's write ends only once the ledger has been told, and the other way round
    const order: string[] = [];
    const recordStarted = gate();
    const completeStarted = gate();
    const llm: LlmClient = { model: 'kimi-k2.5', chat: () => Promise.resolve(ANSWER) };
    const steps = {
      recordStep: async (_ref: JobRef, _s: StepRecord) => {
        order.push('record started');
        recordStarted.open();
        await completeStarted.opened;
        order.push('record stored');
      },
    } as unknown as StepRecorder;
    const ledger = {
      authorizeCall: () => Promise.resolve(1),
      completeCall: async () => {
        order.push('complete started');
        completeStarted.open();
        await recordStarted.opened;
        order.push('complete stored');
        return undefined;
      },
    } as unknown as BudgetLedger;

    // Act: one after the other, each would wait for the other for ever; the test's timeout says so
    const response = await modelStep({ llm, steps, ledger }, CTX, {
      messages: [{ role: 'user', content: '2 + 2' }],
      maxTokens: 10,
    });

    // Assess
    expect(response.content).toBe('4');
    expect(order.slice(0, 2).sort()).toEqual(['complete started', 'record started']);
    expect(order).toHaveLength(4);
  }, 2_000);

  it('completes the ledger once, at the actual cost, when the record cannot be written', async () => {
    // Prepare
    const completions: number[] = [];
    const llm: LlmClient = { model: 'kimi-k2.5', chat: () => Promise.resolve(ANSWER) };
    const steps = {
      recordStep: () => Promise.reject(new Error('table unavailable')),
    } as unknown as StepRecorder;
    const ledger = {
      authorizeCall: () => Promise.resolve(1),
      completeCall: (_ref: JobRef, _authorized: number, actualUsd: number) => {
        completions.push(actualUsd);
        return Promise.resolve(undefined);
      },
    } as unknown as BudgetLedger;

    // Act
    const error = await modelStep({ llm, steps, ledger }, CTX, {
      messages: [{ role: 'user', content: '2 + 2' }],
      maxTokens: 10,
    }).catch((e: unknown) => e);

    // Assess: the write's error reaches the caller; the call is paid for once, what it cost
    expect((error as Error).message).toBe('table unavailable');
    expect(completions).toHaveLength(1);
    expect(completions[0]).toBeGreaterThan(0);
  });

  it('hands the record and the completion to a caller that takes them on, and answers before either is stored', async () => {
    // Prepare: neither write ends until the test lets it
    const writes = gate();
    const stops: string[] = [];
    const llm: LlmClient = { model: 'kimi-k2.5', chat: () => Promise.resolve(ANSWER) };
    const steps = { recordStep: () => writes.opened } as unknown as StepRecorder;
    const ledger = {
      authorizeCall: () => Promise.resolve(1),
      completeCall: async () => {
        await writes.opened;
        return { status: 'ABORTED' };
      },
    } as unknown as BudgetLedger;
    const handed: Promise<void>[] = [];
    const later = {
      record: (p: Promise<void>) => handed.push(p),
      completion: (p: Promise<void>) => handed.push(p),
    };

    // Act
    const response = await modelStep(
      { llm, steps, ledger, onLastStoppedCall: (_ref, stop) => Promise.resolve(stops.push(stop.status)) },
      CTX,
      { messages: [{ role: 'user', content: '2 + 2' }], maxTokens: 10 },
      later,
    );

    // Assess: the answer came back with both writes still open; the stop is seen once they land
    expect(response.content).toBe('4');
    expect(handed).toHaveLength(2);
    expect(stops).toEqual([]);
    writes.open();
    await Promise.all(handed);
    expect(stops).toEqual(['ABORTED']);
  }, 2_000);

  it('closes a job stopped during the call once, when the caller waits for the writes itself', async () => {
    // Prepare
    const stops: string[] = [];
    const llm: LlmClient = { model: 'kimi-k2.5', chat: () => Promise.resolve(ANSWER) };
    const steps = { recordStep: () => Promise.resolve() } as unknown as StepRecorder;
    const ledger = {
      authorizeCall: () => Promise.resolve(1),
      completeCall: () => Promise.resolve({ status: 'ABORTED' }),
    } as unknown as BudgetLedger;

    // Act
    await modelStep(
      { llm, steps, ledger, onLastStoppedCall: (_ref, stop) => Promise.resolve(stops.push(stop.status)) },
      CTX,
      { messages: [{ role: 'user', content: '2 + 2' }], maxTokens: 10 },
    );

    // Assess
    expect(stops).toEqual(['ABORTED']);
  });
});
