import { describe, expect, it } from 'vitest';
import { type Admitted, ProviderGate } from '#local/simulator/provider';

const WINDOW = 1_000;

/** Admits and expects the gate to let the request through. */
function admitted(gate: ProviderGate, at: number, tokens: number): Admitted {
  const verdict = gate.admit(at, tokens);
  if (!verdict.ok) throw new Error(`refused at ${at} (${verdict.rejection.limit})`);
  return verdict.entry;
}

/** The limit the gate refuses with, or undefined when it lets the request through. */
function refusal(gate: ProviderGate, at: number, tokens: number): string | undefined {
  const verdict = gate.admit(at, tokens);
  return verdict.ok ? undefined : verdict.rejection.limit;
}

describe('ProviderGate', () => {
  it('counts RPM over a sliding window and says when the oldest request leaves it', () => {
    // Prepare
    const gate = new ProviderGate({ rpm: 3, windowMs: WINDOW, retryAfter: 'always' });
    for (const at of [0, 10, 20]) admitted(gate, at, 1);
    // Act
    const full = gate.admit(30, 1);
    // Assess
    expect(full.ok).toBe(false);
    if (full.ok) return;
    expect(full.rejection.limit).toBe('rpm');
    expect(full.rejection.headers['retry-after-ms']).toBe('970');
    expect(refusal(gate, 999, 1)).toBe('rpm');
    // The request of t=0 leaves the window at t=1000, the one of t=10 at t=1010.
    expect(refusal(gate, 1_000, 1)).toBeUndefined();
    expect(refusal(gate, 1_001, 1)).toBe('rpm');
    expect(refusal(gate, 1_010, 1)).toBeUndefined();
  });

  it('counts TPM by the prompt at admission plus the completion while the request is in the window', () => {
    // Prepare
    const gate = new ProviderGate({ tpm: 100, windowMs: WINDOW });
    const first = admitted(gate, 0, 40);
    gate.done(first, 30);
    // Act / Assess: 70 in the window
    expect(refusal(gate, 10, 31)).toBe('tpm');
    admitted(gate, 10, 30);
    expect(refusal(gate, 20, 1)).toBe('tpm');
    // The first request's 70 leave at t=1000; 30 stay until t=1010.
    expect(refusal(gate, 1_000, 71)).toBe('tpm');
    expect(refusal(gate, 1_000, 70)).toBeUndefined();
  });

  it('does not count the completion of a request that already left the window', () => {
    // Prepare
    const gate = new ProviderGate({ tpm: 100, windowMs: WINDOW });
    const slow = admitted(gate, 0, 50);
    admitted(gate, 1_000, 10);
    // Act: answered after it left the window
    gate.done(slow, 80);
    // Assess: only the 10 of t=1000 are in the window
    expect(refusal(gate, 1_001, 90)).toBeUndefined();
    expect(refusal(gate, 1_002, 1)).toBe('tpm');
  });

  it('keeps the window right over thousands of requests', () => {
    // Prepare: one request a millisecond for 5 s, a window of 1 s
    const gate = new ProviderGate({ rpm: 1_000, tpm: 1_000_000, windowMs: WINDOW });
    for (let at = 0; at < 5_000; at++) gate.done(admitted(gate, at, 2), 3);
    // Act / Assess: the 1,000 requests of t=4000..4999 fill the window, each with 5 tokens
    expect(refusal(gate, 4_999, 1)).toBe('rpm');
    expect(refusal(gate, 5_000, 1)).toBeUndefined();
    expect(gate.stats()).toMatchObject({ admitted: 5_001, maxRequestsPerWindow: 1_000 });
    const tight = new ProviderGate({ tpm: 5_000, windowMs: WINDOW });
    for (let at = 0; at < 3_000; at++) tight.done(admitted(tight, at, 2), 3);
    expect(refusal(tight, 2_999, 1)).toBe('tpm');
    expect(refusal(tight, 3_000, 5)).toBeUndefined();
  });
});
