/**
 * What the batch intake tells an operator about a message it cannot use: the poison record names the
 * field and says why (the dead-letter queue keeps the message; the log keeps this).
 */
import { describe, expect, it } from 'vitest';
import { PoisonRecordError, parseBatchMessage, uploadTenant } from '#shared/domain/batch';

/** The poison error reading `body` throws. */
const poison = (body: string): PoisonRecordError => {
  try {
    parseBatchMessage(body);
  } catch (error) {
    expect(error).toBeInstanceOf(PoisonRecordError);
    return error as PoisonRecordError;
  }
  return expect.unreachable('accepted');
};

const record = (over: Record<string, unknown>) =>
  JSON.stringify({
    Records: [
      {
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: 'uploads' }, object: { key: 'incoming/acme/a.csv' } },
        ...over,
      },
    ],
  });

describe('parseBatchMessage refusals', () => {
  it('says a body is not JSON, keeping the parser error as the cause', () => {
    const error = poison('{"tenantId":');
    expect(error).toMatchObject({ field: 'body', reason: 'is not JSON' });
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it.each(['null', '"a string"', '42', '[{"tenantId":"acme"}]'])('says %s is not a JSON object', (body) => {
    expect(poison(body)).toMatchObject({ field: 'body', reason: 'must be a JSON object' });
  });

  it('names the first wrong field of an S3 record, with its index', () => {
    expect(poison(record({ s3: { bucket: { name: '' }, object: { key: 'k' } } })).field).toBe(
      'Records[0].s3.bucket.name',
    );
    expect(poison(record({ eventSource: 'aws:sqs' })).field).toBe('Records[0].eventSource');
    const second = JSON.stringify({ Records: [JSON.parse(record({})).Records[0], {}] });
    expect(poison(second).field).toMatch(/^Records\[1\]\.\w+/);
  });

  it('passes over records that are not object-created events, and takes the optional fields only when given', () => {
    expect(parseBatchMessage(record({ eventName: 'ObjectRemoved:Delete' }))).toEqual({
      kind: 'uploads',
      objects: [],
    });
    expect(parseBatchMessage(record({}))).toEqual({
      kind: 'uploads',
      objects: [{ kind: 'upload', bucket: 'uploads', key: 'incoming/acme/a.csv' }],
    });
  });

  it('says what is wrong with a job message', () => {
    expect(poison('{"Records":"x"}')).toMatchObject({ field: 'Records', reason: 'must be an array' });
    expect(poison('{"tenantId":"acme","request":{},"colour":"red"}')).toMatchObject({
      field: 'colour',
      reason: 'is not a known field of a job message',
    });
    // zod names a missing request before the parser's own 'is required' check can (that check is dead).
    expect(poison('{"tenantId":"acme"}').field).toBe('request');
    expect(poison('{"tenantId":"a/b","request":{}}')).toMatchObject({
      field: 'tenantId',
      reason: 'must be 1-64 characters of A-Z a-z 0-9 . _ -',
    });
    expect(poison('{"tenantId":"acme","request":{},"idempotencyKey":""}').field).toBe('idempotencyKey');
  });

  it('ignores the S3 test event, saying so', () => {
    expect(parseBatchMessage('{"Event":"s3:TestEvent"}')).toEqual({
      kind: 'ignored',
      reason: 'S3 test event',
    });
  });
});

describe('uploadTenant refusals', () => {
  it.each(['incoming/acme.csv', 'incoming//a.csv', 'incoming/a b/x.csv', 'Incoming/acme/a.csv'])(
    'says %s is not under incoming/<tenantId>/',
    (key) => {
      expect(() => uploadTenant(key)).toThrow(
        new PoisonRecordError('object.key', `"${key}" is not under incoming/<tenantId>/`),
      );
    },
  );

  it('says which endings it reads', () => {
    expect(() => uploadTenant('incoming/acme/a.json')).toThrow(
      'object.key: "incoming/acme/a.json" must end with .jsonl or .csv',
    );
  });
});
