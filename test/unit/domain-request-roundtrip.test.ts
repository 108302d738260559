/** parseJobRequest keeps what it was given, adds only its defaults, and parses its own output alike. */
import { describe, expect, it } from 'vitest';
import { parseJobRequest } from '#shared/domain/request';

const opts = { maxSubagentsCap: 100 };
const full = {
  task: 'Check the installations',
  taskClass: 'bma.audit-1',
  workload: 'generic',
  subtasks: ['first', { id: 'two', prompt: 'second', expected: '2' }],
  mode: 'sequential',
  maxSubagents: 7,
  maxOutputTokens: 512,
  itemsPerAgent: 3,
  policy: 'learn',
  toggle: true,
  maxStages: 2,
} as const;

describe('parseJobRequest round trip', () => {
  it('carries every optional field it was given, unchanged', () => {
    expect(parseJobRequest(full, opts)).toEqual({
      ...full,
      subtasks: [
        { id: 'S-0001', prompt: 'first' },
        { id: 'two', prompt: 'second', expected: '2' },
      ],
    });
  });

  it('sets no key for a field it was not given, and mode "parl" by default', () => {
    const parsed = parseJobRequest({ task: 'Plain' }, opts);
    expect(parsed).toEqual({ task: 'Plain', workload: 'generic', mode: 'parl' });
    expect(Object.keys(parsed).sort()).toEqual(['mode', 'task', 'workload']);
  });

  it('parses its own output to the same request (one field at a time too)', () => {
    const once = parseJobRequest(full, opts);
    expect(parseJobRequest(once, opts)).toEqual(once);
    for (const key of [
      'taskClass',
      'maxOutputTokens',
      'itemsPerAgent',
      'maxStages',
      'maxSubagents',
    ] as const) {
      const one = parseJobRequest({ task: 't', [key]: full[key] }, opts);
      expect(one[key]).toBe(full[key]);
      expect(parseJobRequest(one, opts)).toEqual(one);
    }
  });

  it('names the field and the rule when a value is wrong', () => {
    expect(() => parseJobRequest({ task: 't', taskClass: 'Bad Class' }, opts)).toThrow(/taskClass/);
    expect(() => parseJobRequest({ task: 't', maxStages: 0 }, opts)).toThrow(/maxStages/);
    expect(() => parseJobRequest({ task: 't', extra: 1 }, opts)).toThrow(/extra.*not a known field/);
    expect(() => parseJobRequest({ task: 't', subtasks: [{ prompt: 'p', bogus: 1 }] }, opts)).toThrow(
      /subtasks\[0\]\.bogus/,
    );
  });
});
