/**
 * Edges of the batch input readers that the other batch tests leave open (see
 * docs/mutation-equivalents.md): what the errors say, and no `undefined` keys in what a CSV gives.
 */
import { describe, expect, it } from 'vitest';
import {
  PoisonRecordError,
  parseBatchMessage,
  parseCsv,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  SubmissionInProgressError,
} from '#shared/domain/batch';
import { RequestValidationError } from '#shared/domain/errors';
import { thrown } from './thrown';

describe('batch errors say what went wrong', () => {
  it('names the job another delivery is submitting', () => {
    const error = new SubmissionInProgressError('job-42');
    expect(error.jobId).toBe('job-42');
    expect(error.message).toContain('job-42');
  });

  it('passes on the schema’s reason for a bad S3 record, not a generic one', () => {
    const error = thrown(() => parseBatchMessage('{"Records":[{}]}'));
    expect(error).toBeInstanceOf(PoisonRecordError);
    expect((error as PoisonRecordError).field).toBe('Records[0].eventSource');
    // The schema wants the literal "aws:s3" there; its message says so.
    expect((error as PoisonRecordError).reason).toContain('aws:s3');
  });

  it('reports a JSONL line that is not JSON by its number, with the parse error as cause', () => {
    const error = thrown(() => parseSubtasksJsonl('"first"\n{oops\n'));
    expect(error).toBeInstanceOf(RequestValidationError);
    expect(error).toMatchObject({ field: 'line 2', reason: 'is not JSON' });
    expect((error as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it('turns a csv-parse error of parseCsv into a RequestValidationError', () => {
    const error = thrown(() => parseCsv('a,"unclosed\n'));
    expect(error).toBeInstanceOf(RequestValidationError);
    expect(error).toMatchObject({ field: 'csv', reason: 'ends inside a quoted field' });
  });
});

describe('parseSubtasksCsv', () => {
  it('sets no id or expected key for a row without them', () => {
    expect(parseSubtasksCsv('prompt\nhello\n')).toStrictEqual([{ prompt: 'hello' }]);
    expect(parseSubtasksCsv('id,prompt,expected\n,hello,\n')).toStrictEqual([{ prompt: 'hello' }]);
    expect(parseSubtasksCsv('id,prompt,expected\nS1,hello,world\n')).toStrictEqual([
      { prompt: 'hello', id: 'S1', expected: 'world' },
    ]);
  });
});
