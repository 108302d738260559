import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { encodeS3EventKey, failedMessageIds } from '#local/emulators/events';
import { loadConfig } from '#shared/config';
import {
  batchIdempotencyKey,
  decodeS3Key,
  PoisonRecordError,
  parseBatchMessage,
  parseCsv,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  uploadTenant,
} from '#shared/domain/batch';
import { ConfigError, RequestValidationError } from '#shared/domain/errors';
import { batchDeps } from '#shared/wiring';

const s3Event = (key: string, eventName = 'ObjectCreated:Put') =>
  JSON.stringify({
    Records: [
      {
        eventSource: 'aws:s3',
        eventName,
        s3: { bucket: { name: 'uploads' }, object: { key, eTag: 'abc', sequencer: '0A1' } },
      },
    ],
  });

describe('parseBatchMessage', () => {
  it('reads a job message with and without an idempotency key', () => {
    expect(parseBatchMessage('{"tenantId":"acme","request":{"task":"x"}}')).toEqual({
      kind: 'job',
      tenantId: 'acme',
      request: { task: 'x' },
    });
    expect(parseBatchMessage('{"tenantId":"acme","request":{},"idempotencyKey":"k"}')).toMatchObject({
      idempotencyKey: 'k',
    });
  });

  it('reads an S3 object-created notification, decoding the key', () => {
    expect(parseBatchMessage(s3Event('incoming/acme/my+list%C3%A9.csv'))).toEqual({
      kind: 'uploads',
      objects: [
        {
          kind: 'upload',
          bucket: 'uploads',
          key: 'incoming/acme/my listé.csv',
          eTag: 'abc',
          sequencer: '0A1',
        },
      ],
    });
    expect(parseBatchMessage(s3Event('incoming/acme/x.csv', 'ObjectRemoved:Delete'))).toEqual({
      kind: 'uploads',
      objects: [],
    });
    expect(parseBatchMessage('{"Event":"s3:TestEvent","Bucket":"uploads"}')).toMatchObject({
      kind: 'ignored',
    });
  });

  it.each([
    ['not json', 'body'],
    ['[1]', 'body'],
    ['{"request":{}}', 'tenantId'],
    ['{"tenantId":"a b","request":{}}', 'tenantId'],
    ['{"tenantId":"acme"}', 'request'],
    ['{"tenantId":"acme","request":{},"extra":1}', 'extra'],
    ['{"Records":{}}', 'Records'],
  ])('rejects %s as poison naming %s', (body, field) => {
    try {
      parseBatchMessage(body);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PoisonRecordError);
      expect((error as PoisonRecordError).field).toBe(field);
    }
  });
});

describe('uploads', () => {
  it('takes the tenant and format from incoming/<tenant>/<file>', () => {
    expect(uploadTenant('incoming/acme/a.jsonl')).toEqual({ tenantId: 'acme', format: 'jsonl' });
    expect(uploadTenant('incoming/acme/sub/a.CSV')).toEqual({ tenantId: 'acme', format: 'csv' });
    expect(() => uploadTenant('incoming/a.csv')).toThrow(PoisonRecordError);
    expect(() => uploadTenant('other/acme/a.csv')).toThrow(PoisonRecordError);
    expect(() => uploadTenant('incoming/acme/a.txt')).toThrow('.jsonl or .csv');
  });

  it('reads JSONL subtasks, naming a bad line', () => {
    expect(parseSubtasksJsonl('"a"\n\n{"id":"q","prompt":"b"}\r\n')).toEqual(['a', { id: 'q', prompt: 'b' }]);
    expect(() => parseSubtasksJsonl('"a"\n{oops')).toThrow('line 2');
  });

  it('reads CSV with quotes, commas, newlines and doubled quotes', () => {
    expect(parseCsv('a,b\r\n"x, ""y""","multi\nline"\n')).toEqual([
      ['a', 'b'],
      ['x, "y"', 'multi\nline'],
    ]);
    expect(parseSubtasksCsv('\uFEFFid,prompt,expected\nq1,What is 2+2?,4\n,Hello,\n')).toEqual([
      { id: 'q1', prompt: 'What is 2+2?', expected: '4' },
      { prompt: 'Hello' },
    ]);
  });

  it.each([
    ['id,question\nq,x', 'csv.header'],
    ['prompt,colour\nx,red', 'csv.header.colour'],
    ['prompt\n"open', 'csv'],
  ])('rejects the CSV %j naming %s', (text, field) => {
    try {
      parseSubtasksCsv(text);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RequestValidationError);
      expect((error as RequestValidationError).field).toBe(field);
    }
  });

  it('refuses a row with more fields than the header (an unquoted comma) instead of shifting its columns', () => {
    // Act
    const reading = () => parseSubtasksCsv('prompt,id,expected\nWhat is 2,3?,a,4\n');
    // Assess
    expect(reading).toThrow(RequestValidationError);
    expect(reading).toThrow(/line 2.*4 fields.*3/);
  });

  it('reads a quoted prompt that holds a comma, and a row with fewer fields than the header', () => {
    expect(parseSubtasksCsv('prompt,id,expected\n"What is 2,3?",a,4\nHi\n')).toEqual([
      { prompt: 'What is 2,3?', id: 'a', expected: '4' },
      { prompt: 'Hi' },
    ]);
  });

  it('encodes keys as S3 notifications do, and decodes them back', () => {
    const key = 'incoming/acme/my file+ä.csv';
    expect(encodeS3EventKey(key)).toBe('incoming/acme/my+file%2B%C3%A4.csv');
    expect(decodeS3Key(encodeS3EventKey(key))).toBe(key);
  });
});

describe('batchIdempotencyKey', () => {
  it('puts the key in the batch namespace, apart from API keys', () => {
    expect(batchIdempotencyKey('nightly-2026-11-29')).toBe('batch:nightly-2026-11-29');
    expect(batchIdempotencyKey('sqs:m-1')).not.toBe(batchIdempotencyKey('sqs:m-2'));
  });

  it('hashes a long key (an S3 key may be 1,024 bytes) to a stable, short one', () => {
    const long = `s3:uploads/incoming/acme/${'x'.repeat(900)}.jsonl#0A1`;
    const key = batchIdempotencyKey(long);
    expect(key).toMatch(/^batch:sha256:[0-9a-f]{64}$/);
    expect(batchIdempotencyKey(long)).toBe(key);
    expect(batchIdempotencyKey(`${long}2`)).not.toBe(key);
  });
});

describe('failedMessageIds (how the local poller reads a batch response)', () => {
  const records = ['a', 'b', 'c'].map((messageId) => ({ messageId }) as SQSRecord);

  it('keeps the listed failures, or none', () => {
    expect(failedMessageIds({ batchItemFailures: [{ itemIdentifier: 'b' }] }, records, true)).toEqual(
      new Set(['b']),
    );
    expect(failedMessageIds({ batchItemFailures: [] }, records, true)).toEqual(new Set());
    expect(failedMessageIds(null, records, true)).toEqual(new Set());
  });

  it('fails the whole batch for an unknown or missing identifier, as Lambda does', () => {
    expect(failedMessageIds({ batchItemFailures: [{ itemIdentifier: 'z' }] }, records, true).size).toBe(3);
    expect(failedMessageIds({ batchItemFailures: [{}] }, records, true).size).toBe(3);
  });

  it('ignores the response without ReportBatchItemFailures', () => {
    expect(failedMessageIds({ batchItemFailures: [{ itemIdentifier: 'a' }] }, records, false)).toEqual(
      new Set(),
    );
  });
});

describe('the batch function configuration', () => {
  it('reads the state machine and the local S3 endpoint', () => {
    const c = loadConfig({
      TABLE_NAME: 'T',
      STATE_MACHINE_ARN: 'arn:aws:states:eu-central-1:1:stateMachine:W',
      S3_ENDPOINT: 'http://127.0.0.1:1',
    });
    expect(c).toMatchObject({
      tableName: 'T',
      stateMachineArn: 'arn:aws:states:eu-central-1:1:stateMachine:W',
      s3Endpoint: 'http://127.0.0.1:1',
    });
  });

  it('names STATE_MACHINE_ARN when the batch function has none', () => {
    expect(() => batchDeps(loadConfig({ TABLE_NAME: 'T' }))).toThrow(ConfigError);
    expect(() => batchDeps(loadConfig({ TABLE_NAME: 'T' }))).toThrow('STATE_MACHINE_ARN');
  });
});
