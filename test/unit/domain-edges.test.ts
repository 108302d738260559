/**
 * Boundaries of the domain's rules, each where a user would see the difference: a sub-agent's stop
 * time, the limiter's pacing and markers at the instant they expire, CSV errors a client can act on,
 * the length at which a batch key is hashed.
 */
import { CsvError } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { batchIdempotencyKey, parseSubtasksCsv } from '#shared/domain/batch';
import { stopTime } from '#shared/domain/deadline';
import { RequestValidationError } from '#shared/domain/errors';
import {
  initialRateState,
  insertionFor,
  mayClaimDirectly,
  type Pacing,
  pacedBy,
  pacingOf,
} from '#shared/domain/limiter-rules';
import type { LimiterPolicy } from '#shared/domain/provider-limits';

describe('stopTime', () => {
  it("stops the margin before the function's deadline, or at the job's deadline if that is earlier", () => {
    expect(stopTime({ lambdaDeadlineAt: 1_000_000, marginMs: 15_000 })).toBe(985_000);
    expect(stopTime({ lambdaDeadlineAt: 1_000_000, jobDeadlineAt: 900_000, marginMs: 15_000 })).toBe(900_000);
    expect(stopTime({ lambdaDeadlineAt: 1_000_000, jobDeadlineAt: 990_000, marginMs: 15_000 })).toBe(985_000);
  });

  it('takes the job deadline alone, ignores one that is not a time, and has none without either', () => {
    expect(stopTime({ jobDeadlineAt: 5_000, marginMs: 15_000 })).toBe(5_000);
    expect(stopTime({ lambdaDeadlineAt: 100_000, jobDeadlineAt: Number.NaN, marginMs: 10_000 })).toBe(90_000);
    expect(stopTime({ marginMs: 15_000 })).toBeUndefined();
    expect(stopTime({ jobDeadlineAt: Number.POSITIVE_INFINITY, marginMs: 0 })).toBeUndefined();
  });
});

describe('limiter pacing', () => {
  const limits = { maxConcurrency: 4, windowMs: 60_000 };

  it('paces a key with RPM, TPM or both, and not one with neither', () => {
    expect(pacingOf({ ...limits, rpm: undefined, tpm: undefined }).paced).toBe(false);
    expect(pacingOf({ ...limits, rpm: 100, tpm: undefined }).paced).toBe(true);
    expect(pacingOf({ ...limits, rpm: undefined, tpm: 100_000 }).paced).toBe(true);
    expect(pacingOf({ ...limits, rpm: 100, tpm: 100_000 }).paced).toBe(true);
  });

  it("waits for tokens only when a call's tokens cost more clock than its request", () => {
    const pacing: Pacing = { paced: true, intervalMs: 100, perTokenMs: 2, lateMs: 0, catchUpMs: 0 };
    expect(pacedBy(pacing, 60)).toBe('tpm');
    expect(pacedBy(pacing, 50)).toBe('rpm');
    expect(pacedBy(pacing, 40)).toBe('rpm');
  });

  it('puts an orchestrator call ahead only when the queue ends after its place', () => {
    const pacing: Pacing = { paced: true, intervalMs: 100, perTokenMs: 0, lateMs: 0, catchUpMs: 0 };
    // Its place: now + lead + one interval = 150.
    expect(insertionFor(0, 150, pacing, 10, 50)).toBeUndefined();
    expect(insertionFor(0, 151, pacing, 10, 50)).toEqual({ start: 150, shift: { at: 50, by: 110 } });
  });

  it('starts a key with a closed circuit, no shifts, no waiters and zero totals', () => {
    expect(initialRateState({ ...limits, rpm: 100, tpm: undefined })).toStrictEqual({
      tat: 0,
      seq: 0,
      cooldownUntil: 0,
      ceiling: 4,
      lastDecreaseAt: 0,
      consecutiveFailures: 0,
      breaker: 'closed',
      openedAt: 0,
      probe: undefined,
      shiftEpoch: 0,
      shifts: [],
      waiters: {},
      totals: { rateLimited: 0, failures: 0, decreases: 0 },
    });
  });

  it("lets a sub-agent claim directly once another tenant's waiter marker has expired, at its expiry", () => {
    const policy: LimiterPolicy = {
      limits: { ...limits, rpm: undefined, tpm: undefined },
      orchestratorShare: 0.25,
      leaseMs: 10_000,
      cooldownMs: 1_000,
      breakerFailures: 3,
      breakerOpenMs: 5_000,
    };
    const rate = { ...initialRateState(policy.limits), waiters: { 'subagent#other': 1_000 } };
    expect(mayClaimDirectly(rate, 'subagent', 'me', policy, 999)).toBe(false);
    expect(mayClaimDirectly(rate, 'subagent', 'me', policy, 1_000)).toBe(true);
  });
});

describe('CSV errors', () => {
  /** The validation error reading `text` throws. */
  const refusal = (text: string): RequestValidationError => {
    try {
      parseSubtasksCsv(text);
    } catch (error) {
      expect(error).toBeInstanceOf(RequestValidationError);
      return error as RequestValidationError;
    }
    return expect.unreachable('accepted');
  };

  it('says a file ends inside a quoted field, with the parser error as cause', () => {
    const error = refusal('prompt\n"never closed\n');
    expect(error).toMatchObject({ field: 'csv', reason: 'ends inside a quoted field' });
    expect(error.cause).toBeInstanceOf(CsvError);
  });

  it('names the line of a row with an extra field, with the parser error as cause', () => {
    const error = refusal('prompt,id\nWhat is 2,3?,a\n');
    expect(error.field).toBe('csv line 2');
    expect(error.reason).toMatch(/^has 3 fields and the header 2: quote a field/);
    expect(error.cause).toBeInstanceOf(CsvError);
  });

  it("names the line of any other CSV error and keeps the parser's reason", () => {
    const error = refusal('prompt\n"a"b\n');
    expect(error.field).toBe('csv line 2');
    expect(error.reason).not.toBe('ends inside a quoted field');
    expect(error.reason).toBe((error.cause as CsvError).message);
  });
});

describe('batchIdempotencyKey', () => {
  it('keeps a key of up to 200 characters as it is and hashes a longer one', () => {
    const at = 'k'.repeat(200);
    expect(batchIdempotencyKey(at)).toBe(`batch:${at}`);
    expect(batchIdempotencyKey(`${at}k`)).toMatch(/^batch:sha256:[0-9a-f]{64}$/);
  });
});
