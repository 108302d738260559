import { describe, expect, it } from 'vitest';
import { RequestValidationError } from '#shared/domain/errors';
import { parseJobRequest } from '#shared/domain/request';
import { bmaDemoRequest } from '#shared/domain/workloads/bma/demo';

const cap = { maxSubagentsCap: 1000 };

const fieldOf = (raw: unknown): string => {
  try {
    parseJobRequest(raw, cap);
  } catch (error) {
    if (error instanceof RequestValidationError) return error.field;
    throw error;
  }
  throw new Error('expected a RequestValidationError');
};

describe('parseJobRequest', () => {
  it('fills defaults and ids for plain-string subtasks', () => {
    const r = parseJobRequest(
      { task: 'Add numbers', subtasks: ['1 + 1', { prompt: '2 + 2', expected: '4' }] },
      cap,
    );
    expect(r.mode).toBe('parl');
    expect(r.workload).toBe('generic');
    expect(r.subtasks).toEqual([
      { id: 'S-0001', prompt: '1 + 1' },
      { id: 'S-0002', prompt: '2 + 2', expected: '4' },
    ]);
  });

  it('says what the cap on sub-agents is when a request asks for more, and the floor for fewer than one', () => {
    expect(() => parseJobRequest({ task: 'x', maxSubagents: 1001 }, cap)).toThrow(
      'maxSubagents: must be at most 1000, the cap on sub-agents at once',
    );
    expect(() => parseJobRequest({ task: 'x', maxSubagents: 0 }, cap)).toThrow(
      'maxSubagents: must be at least 1',
    );
  });

  it('recognises the demo request as the bma-compliance workload', () => {
    const r = parseJobRequest(bmaDemoRequest(5, 1), cap);
    expect(r.workload).toBe('bma-compliance');
    expect(r.subtasks).toHaveLength(5);
    expect(r.dataset?.installations).toHaveLength(5);
  });

  it.each([
    [{ task: '   ' }, 'task'],
    [{}, 'task'],
    [{ task: 'x', mode: 'fast' }, 'mode'],
    [{ task: 'x', maxSubagents: 0 }, 'maxSubagents'],
    [{ task: 'x', maxSubagents: 1001 }, 'maxSubagents'],
    [{ task: 'x', maxSubagents: 2.5 }, 'maxSubagents'],
    [{ task: 'x', subtasks: [] }, 'subtasks'],
    [{ task: 'x', subtasks: [{ prompt: '' }] }, 'subtasks[0].prompt'],
    [
      {
        task: 'x',
        subtasks: [
          { id: 'a', prompt: 'p' },
          { id: 'a', prompt: 'q' },
        ],
      },
      'subtasks[1].id',
    ],
    [{ task: 'x', tenantId: 'other' }, 'tenantId'],
    [{ task: 'x', subtasks: [{ prompt: 'p', extra: 1 }] }, 'subtasks[0].extra'],
    [{ task: 'x', maxOutputTokens: 1 }, 'maxOutputTokens'],
    [{ task: 'x', workload: 'bma-compliance' }, 'dataset.installations'],
    ['not an object', 'request'],
    [{ task: 'x', policy: 'smart' }, 'policy'],
    [{ task: 'x', itemsPerAgent: 0 }, 'itemsPerAgent'],
    [{ task: 'x', maxStages: 6 }, 'maxStages'],
    [{ task: 'x', toggle: true }, 'toggle'],
  ])('rejects %j naming the field %s', (raw, field) => {
    expect(fieldOf(raw)).toBe(field);
  });
});
