/**
 * How a model's reply becomes JSON, and how an idempotency key becomes a job id: the parts of the
 * domain a client sees through a retried POST or a planner wrapping its plan in prose.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jobIdForKey, requestHash } from '#shared/domain/idempotency';
import { extractJsonObject } from '#shared/domain/json-reply';

describe('extractJsonObject', () => {
  it('reads a bare object, and one wrapped in prose or a code fence', () => {
    expect(extractJsonObject('{"subtasks":[]}')).toEqual({ subtasks: [] });
    expect(extractJsonObject('Here is the plan:\n```json\n{"a":{"b":[1,2]}}\n```\nGood luck!')).toEqual({
      a: { b: [1, 2] },
    });
  });

  it.each(['no JSON here', 'only a closing brace }', '{ only an opening brace', '} backwards {'])(
    'refuses %j as a reply without a JSON object',
    (reply) => {
      expect(() => extractJsonObject(reply)).toThrow(new SyntaxError('no JSON object in the reply'));
    },
  );

  it('lets a malformed object fail as JSON', () => {
    expect(() => extractJsonObject('{"a": }')).toThrow(SyntaxError);
    expect(() => extractJsonObject('{"a": }')).not.toThrow('no JSON object in the reply');
  });
});

describe('jobIdForKey', () => {
  /** The expected id, written out: the first 128 bits of SHA-256("<tenant>\n<key>") in UUID groups. */
  const expectedId = (tenantId: string, key: string) => {
    const h = createHash('sha256').update(`${tenantId}\n${key}`).digest('hex');
    return [
      h.substring(0, 8),
      h.substring(8, 12),
      h.substring(12, 16),
      h.substring(16, 20),
      h.substring(20, 32),
    ].join('-');
  };

  it('is the same UUID-shaped id for the same tenant and key, every time', () => {
    const id = jobIdForKey('t-000000000001', 'nightly-2026-12-02');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(id).toBe(expectedId('t-000000000001', 'nightly-2026-12-02'));
    expect(jobIdForKey('t-000000000001', 'nightly-2026-12-02')).toBe(id);
  });

  it('gives another tenant, or another key, another job', () => {
    const ids = new Set([
      jobIdForKey('t-000000000001', 'k'),
      jobIdForKey('t-000000000002', 'k'),
      jobIdForKey('t-000000000001', 'k2'),
      // The separator keeps "a" + "bc" apart from "ab" + "c".
      jobIdForKey('a', 'bc'),
      jobIdForKey('ab', 'c'),
    ]);
    expect(ids.size).toBe(5);
  });

  it('hashes the request as its JSON, so the same request always has the same hash', () => {
    const request = { task: 'Check 3 installations', maxSubagents: 3 } as Parameters<typeof requestHash>[0];
    expect(requestHash(request)).toBe(createHash('sha256').update(JSON.stringify(request)).digest('hex'));
    expect(requestHash({ ...request, maxSubagents: 4 })).not.toBe(requestHash(request));
  });
});
