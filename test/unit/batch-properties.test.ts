import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeS3Key,
  PoisonRecordError,
  parseBatchMessage,
  parseCsv,
  parseSubtasksCsv,
  parseSubtasksJsonl,
} from '#shared/domain/batch';

/** Field text with everything CSV must quote: commas, quotes, CR, LF, and non-ASCII. */
const field = fc.string({
  unit: fc.oneof(
    fc.constantFrom(',', '"', '\n', '\r', ' ', 'ä', '😀'),
    fc.string({ minLength: 1, maxLength: 1 }),
  ),
  maxLength: 12,
});
/** A row the parser keeps: not one blank field (blank lines are skipped). */
const row = (width: number) =>
  fc
    .array(field, { minLength: width, maxLength: width })
    .filter((r) => !(r.length === 1 && r[0]!.trim() === ''));

/** RFC 4180 writing: quote a field that needs it (or every field), doubling its quotes. */
function toCsv(rows: string[][], quoteAll: boolean, eol: string): string {
  const cell = (f: string) => (quoteAll || /[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
  return rows.map((r) => r.map(cell).join(',')).join(eol);
}

const tenantId = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);

describe('the batch parsers on random input', () => {
  it('reads back any table written as CSV, quoted or not, with LF or CRLF', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((w) => fc.array(row(w), { minLength: 1, maxLength: 6 })),
        fc.boolean(),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        (rows, quoteAll, eol, trailingEol) => {
          const text = toCsv(rows, quoteAll, eol) + (trailingEol ? eol : '');
          expect(parseCsv(text)).toEqual(rows);
        },
      ),
    );
  });

  it('reads back subtasks written as CSV with the columns in any order, empty cells left out', () => {
    const subtask = fc.record(
      {
        prompt: field.filter((p) => p.trim() !== ''),
        id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/),
        expected: field.filter((e) => e !== ''),
      },
      { requiredKeys: ['prompt'] },
    );
    fc.assert(
      fc.property(
        fc.array(subtask, { minLength: 1, maxLength: 8 }),
        fc.shuffledSubarray(['id', 'expected'] as const).chain((extra) =>
          fc.shuffledSubarray<'prompt' | 'id' | 'expected'>(['prompt', ...extra], {
            minLength: extra.length + 1,
          }),
        ),
        fc.boolean(),
        (subtasks, columns, bom) => {
          // Prepare: only the chosen columns survive the trip
          const rows = subtasks.map((s) => columns.map((c) => s[c] ?? ''));
          const expected = subtasks.map((s) =>
            Object.fromEntries(columns.filter((c) => (s[c] ?? '') !== '').map((c) => [c, s[c]])),
          );
          const text =
            (bom ? '\uFEFF' : '') + toCsv([columns.map((c) => c.toUpperCase()), ...rows], false, '\r\n');
          // Act / Assess
          expect(parseSubtasksCsv(text)).toEqual(expected);
        },
      ),
    );
  });

  it('reads back subtasks written as JSON lines, skipping blank lines', () => {
    const subtask = fc.oneof(
      fc.string(),
      fc.record(
        { id: fc.string(), prompt: fc.string(), expected: fc.string() },
        { requiredKeys: ['prompt'] },
      ),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(subtask, fc.constantFrom('', '\n', '  \r\n')), { maxLength: 8 }),
        fc.constantFrom('\n', '\r\n'),
        (items, eol) => {
          const text = items.map(([s, blank]) => JSON.stringify(s) + eol + blank).join('');
          expect(parseSubtasksJsonl(text)).toEqual(items.map(([s]) => s));
        },
      ),
    );
  });

  it('reads back a job message with any request, and an idempotency key when there is one', () => {
    fc.assert(
      fc.property(
        tenantId,
        fc.jsonValue(),
        fc.option(fc.string({ minLength: 1, maxLength: 512 }), { nil: undefined }),
        (t, request, key) => {
          const body = JSON.stringify({
            tenantId: t,
            request,
            ...(key === undefined ? {} : { idempotencyKey: key }),
          });
          expect(parseBatchMessage(body)).toEqual({
            kind: 'job',
            tenantId: t,
            request: JSON.parse(JSON.stringify(request)),
            ...(key === undefined ? {} : { idempotencyKey: key }),
          });
        },
      ),
    );
  });

  it('refuses a job message with one wrong field as poison, naming it', () => {
    const wrong = fc.oneof(
      fc
        .string({ maxLength: 70 })
        .filter((s) => !/^[A-Za-z0-9._-]{1,64}$/.test(s))
        .map((t) => ({ patch: { tenantId: t }, field: 'tenantId' })),
      fc
        .constantFrom('', 'k'.repeat(513))
        .map((k) => ({ patch: { idempotencyKey: k }, field: 'idempotencyKey' })),
      fc
        .constantFrom('tenant', 'jobId', 'priority', 'Request')
        .map((k) => ({ patch: { [k]: 'x' }, field: k })),
    );
    fc.assert(
      fc.property(tenantId, wrong, (t, { patch, field }) => {
        const body = JSON.stringify({ tenantId: t, request: { task: 'x' }, ...patch });
        let thrown: unknown;
        try {
          parseBatchMessage(body);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(PoisonRecordError);
        expect((thrown as PoisonRecordError).field).toBe(field);
      }),
    );
  });

  it('decodes any key as S3 encodes it in a notification (spaces as +)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), (key) => {
        const encoded = encodeURIComponent(key).replace(/%20/g, '+');
        expect(decodeS3Key(encoded)).toBe(key);
      }),
    );
  });
});
