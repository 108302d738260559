import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestValidationError } from '#shared/domain/errors';
import { parseJobRequest, REQUEST_LIMITS } from '#shared/domain/request';

const CAP = 50;
const cap = { maxSubagentsCap: CAP };
/** DynamoDB's item size limit; an item is its attribute names and values (UTF-8), and then some. */
const DYNAMO_ITEM_BYTES = 400 * 1024;

/** Text with one- to four-byte characters, never blank. */
const text = (maxLength: number) =>
  fc.string({ unit: 'grapheme', minLength: 1, maxLength }).filter((s) => s.trim() !== '');
// Not S-0001…: the ids the parser gives subtasks without one
const subtaskId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/).filter((id) => !/^S-\d{4}$/.test(id));

/** Valid job requests of the generic workload, with every optional field sometimes present. */
const validRequest = fc
  .record(
    {
      task: text(300),
      subtasks: fc.uniqueArray(
        fc.oneof(
          text(200),
          fc.record(
            { id: subtaskId, prompt: text(200), expected: fc.string({ maxLength: 40 }) },
            { requiredKeys: ['id', 'prompt'] },
          ),
        ),
        {
          minLength: 1,
          maxLength: 12,
          selector: (s) => (typeof s === 'string' ? `#${s}` : s.id),
        },
      ),
      mode: fc.constantFrom('parl', 'sequential'),
      maxSubagents: fc.integer({ min: 1, max: CAP }),
      maxOutputTokens: fc.integer({
        min: REQUEST_LIMITS.minOutputTokens,
        max: REQUEST_LIMITS.maxOutputTokens,
      }),
      taskClass: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/),
      itemsPerAgent: fc.integer({ min: 1, max: 20 }),
      policy: fc.constantFrom('off', 'learn', 'greedy'),
      maxStages: fc.integer({ min: 1, max: REQUEST_LIMITS.maxStages }),
      toggle: fc.boolean(),
    },
    { requiredKeys: ['task'] },
  )
  // TOGGLE needs a policy that learns
  .map((r) => (r.toggle && (r.policy ?? 'off') === 'off' ? { ...r, toggle: false } : r));

/** The field a rejected request names. */
function rejectedField(raw: unknown): string {
  try {
    parseJobRequest(raw, cap);
  } catch (error) {
    if (error instanceof RequestValidationError) return error.field;
    throw error;
  }
  return '(accepted)';
}

const utf8Bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

describe('parseJobRequest on random requests', () => {
  it('reads back its own output unchanged, keeping what was given (trimmed) and numbering the rest', () => {
    fc.assert(
      fc.property(validRequest, (raw) => {
        // Act
        const parsed = parseJobRequest(raw, cap);
        const again = parseJobRequest(JSON.parse(JSON.stringify(parsed)), cap);
        // Assess
        expect(again).toEqual(parsed);
        expect(parsed.task).toBe(raw.task.trim());
        expect(parsed.mode).toBe(raw.mode ?? 'parl');
        expect(parsed.workload).toBe('generic');
        expect(parsed.maxSubagents).toBe(raw.maxSubagents);
        expect(parsed.subtasks).toEqual(
          raw.subtasks?.map((s, i) =>
            typeof s === 'string'
              ? { id: `S-${String(i + 1).padStart(4, '0')}`, prompt: s.trim() }
              : {
                  id: s.id,
                  prompt: s.prompt.trim(),
                  ...(s.expected === undefined ? {} : { expected: s.expected }),
                },
          ),
        );
      }),
    );
  });

  it('accepts nothing DynamoDB would refuse to store: the job item and each subtask item fit in 400 KB', () => {
    // Prepare: the largest request the limits allow, in four-byte characters (limits count code points)
    const emoji = (chars: number) => '😀'.repeat(chars);
    const raw = {
      task: emoji(REQUEST_LIMITS.taskChars),
      subtasks: [{ id: 'x'.repeat(64), prompt: emoji(REQUEST_LIMITS.promptChars), expected: emoji(10_000) }],
      taskClass: `a${'b'.repeat(63)}`,
    };
    // Act
    const { subtasks, ...request } = parseJobRequest(raw, cap);
    // Assess: the job item holds the request without its subtasks; a subtask item holds one subtask
    expect(utf8Bytes(request)).toBeLessThan(DYNAMO_ITEM_BYTES);
    for (const s of subtasks ?? []) expect(utf8Bytes(s)).toBeLessThan(DYNAMO_ITEM_BYTES);
    // One character more anywhere is refused
    expect(rejectedField({ ...raw, task: `${raw.task}x` })).toBe('task');
    expect(
      rejectedField({ ...raw, subtasks: [{ ...raw.subtasks[0], prompt: `${raw.subtasks[0]!.prompt}x` }] }),
    ).toBe('subtasks[0].prompt');
    expect(
      rejectedField({
        ...raw,
        subtasks: [{ ...raw.subtasks[0], expected: `${raw.subtasks[0]!.expected}x` }],
      }),
    ).toBe('subtasks[0].expected');
  });

  /** One thing wrong with an otherwise valid request, and the field that must be named. */
  const corruption = fc.oneof(
    fc
      .string({ minLength: 1, maxLength: 12 })
      .filter(
        (k) =>
          !/^(task|taskClass|workload|subtasks|mode|maxSubagents|maxOutputTokens|dataset|itemsPerAgent|policy|toggle|maxStages|__proto__|constructor)$/.test(
            k,
          ),
      )
      .map((k) => ({ patch: { [k]: 1 }, field: k })),
    fc
      .oneof(
        fc.integer({ min: CAP + 1 }),
        fc.integer({ max: 0 }),
        fc.double({ min: 1.01, max: CAP - 0.01, noInteger: true }),
        fc.constant(Number.POSITIVE_INFINITY),
      )
      .map((n) => ({ patch: { maxSubagents: n }, field: 'maxSubagents' })),
    fc.constantFrom('fast', '', 'PARL').map((mode) => ({ patch: { mode }, field: 'mode' })),
    fc
      .integer({ min: 1, max: 100 })
      .map((n) => ({ patch: { task: 'x'.repeat(REQUEST_LIMITS.taskChars + n) }, field: 'task' })),
    fc.constantFrom(' ', '\n\t', '').map((task) => ({ patch: { task }, field: 'task' })),
    // ids end up in sort keys: '#' (the key separator), '/', spaces, too long or empty are refused
    fc
      .oneof(
        fc.constantFrom('a#b', 'a/b', 'a b', '', 'x'.repeat(65), 'ü'),
        fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !/^[A-Za-z0-9._:-]{1,64}$/.test(s)),
      )
      .map((id) => ({ patch: { subtasks: [{ id, prompt: 'p' }] }, field: 'subtasks[0].id' })),
    fc
      .constantFrom(16 - 1, 32_768 + 1, 100.5)
      .map((n) => ({ patch: { maxOutputTokens: n }, field: 'maxOutputTokens' })),
    fc.constantFrom(0, 6).map((n) => ({ patch: { maxStages: n }, field: 'maxStages' })),
    fc
      .constantFrom('Upper', '-dash', '', 'a'.repeat(65))
      .map((c) => ({ patch: { taskClass: c }, field: 'taskClass' })),
  );

  it('refuses a request with one wrong field, naming that field', () => {
    fc.assert(
      fc.property(validRequest, corruption, (raw, { patch, field }) => {
        expect(rejectedField({ ...raw, ...patch })).toBe(field);
      }),
    );
  });
});
