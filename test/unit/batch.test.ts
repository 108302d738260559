import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { encodeS3EventKey, failedMessageIds } from '#cdk/local/events';
import { loadBatchConfig } from '#shared/config';
import {
  decodeS3Key,
  idempotentJobId,
  PoisonRecordError,
  parseBatchMessage,
  parseCsv,
  parseSubtasksCsv,
  parseSubtasksJsonl,
  uploadTenant,
} from '#shared/domain/batch';
import { ConfigError, RequestValidationError } from '#shared/domain/errors';

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

  it('encodes keys as S3 notifications do, and decodes them back', () => {
    const key = 'incoming/acme/my file+ä.csv';
    expect(encodeS3EventKey(key)).toBe('incoming/acme/my+file%2B%C3%A4.csv');
    expect(decodeS3Key(encodeS3EventKey(key))).toBe(key);
  });
});

describe('idempotentJobId', () => {
  it('is a stable UUID-shaped id per (tenant, key), different across tenants and keys', () => {
    const id = idempotentJobId('acme', 'k1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(idempotentJobId('acme', 'k1')).toBe(id);
    expect(idempotentJobId('acme', 'k2')).not.toBe(id);
    expect(idempotentJobId('globex', 'k1')).not.toBe(id);
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

describe('loadBatchConfig', () => {
  it('reads the state machine, S3 endpoint and tenants', () => {
    const c = loadBatchConfig({
      TABLE_NAME: 'T',
      STATE_MACHINE_ARN: 'arn:aws:states:eu-central-1:1:stateMachine:W',
      S3_ENDPOINT: 'http://127.0.0.1:1',
      PARL_TENANTS: 'acme, globex,',
    });
    expect(c).toMatchObject({
      tableName: 'T',
      stateMachineArn: 'arn:aws:states:eu-central-1:1:stateMachine:W',
      s3Endpoint: 'http://127.0.0.1:1',
      tenants: ['acme', 'globex'],
    });
  });

  it('names PARL_TENANTS when a tenant id is malformed', () => {
    expect(() => loadBatchConfig({ TABLE_NAME: 'T', PARL_TENANTS: 'ok,not ok' })).toThrow(ConfigError);
    expect(() => loadBatchConfig({ TABLE_NAME: 'T', PARL_TENANTS: 'ok,not ok' })).toThrow('PARL_TENANTS');
  });
});
