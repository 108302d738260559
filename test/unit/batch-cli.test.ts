import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBatchSubmitArgs, planSubmission } from '#cli/commands/batch/parse';
import { batchTextReport } from '#cli/commands/batch/report';
import { expectedJobs } from '#cli/commands/batch/send';
import { UsageError } from '#cli/flags';
import { batchIdempotencyKey } from '#shared/domain/batch';
import { jobIdForKey } from '#shared/domain/idempotency';

describe('planSubmission', () => {
  it('sends a JSONL file of job requests or messages as one message per line', () => {
    const text =
      '{"task":"A"}\n{"tenantId":"globex","request":{"task":"B"},"idempotencyKey":"k"}\n{"request":{"task":"C"}}\n';
    expect(planSubmission('jobs.jsonl', text, { tenantId: 'acme' })).toEqual({
      kind: 'messages',
      messages: [
        { tenantId: 'acme', request: { task: 'A' } },
        { tenantId: 'globex', request: { task: 'B' }, idempotencyKey: 'k' },
        { tenantId: 'acme', request: { task: 'C' } },
      ],
    });
  });

  it.each([
    ['list.csv', 'prompt\nWhat is 1+1?\nWhat is 2+2?\n', 2],
    ['list.jsonl', '"What is 1+1?"\n{"prompt":"What is 2+2?"}\n{"prompt":"x"}\n', 3],
  ])('uploads %s of subtasks under incoming/<tenant>/', (file, text, subtasks) => {
    expect(planSubmission(`/some/dir/${file}`, text, { tenantId: 'acme' })).toEqual({
      kind: 'upload',
      tenantId: 'acme',
      key: `incoming/acme/${file}`,
      body: text,
      subtasks,
    });
  });

  it('follows --as over the guess, and checks the lines as what they are sent as', () => {
    expect(planSubmission('jobs.jsonl', '{"task":"A"}\n', { tenantId: 'acme' }).kind).toBe('messages');
    expect(() => planSubmission('jobs.jsonl', '{"task":"A"}\n', { tenantId: 'acme', as: 'upload' })).toThrow(
      'the upload: subtasks[0]',
    );
  });

  it.each([
    ['jobs.txt', 'x', '.jsonl or .csv'],
    ['jobs.jsonl', '', 'holds no lines'],
    ['jobs.jsonl', '{"task":"A"}\n{oops', 'line 2'],
    ['jobs.jsonl', '{"task":"A"}\n"a prompt"', 'line 2: must be a JSON object'],
    ['list.csv', 'question\nx', 'csv.header'],
    ['jobs.jsonl', '{"task":"A"}\n{"task":"B","colour":"red"}', 'line 2: colour'],
    ['jobs.jsonl', '{"task":"A"}\n{"request":{"task":"B","subtasks":[]}}', 'line 2: subtasks'],
    ['jobs.jsonl', '{"task":"A"}\n{"task":"\\ud800"}', 'line 2: task'],
    ['list.csv', 'prompt,id\nx,a\ny,a\n', 'subtasks[1].id'],
    ['list.jsonl', '"a"\n{"prompt":""}\n', 'subtasks[1]'],
  ])('rejects %s (%j) naming the problem', (file, text, message) => {
    expect(() => planSubmission(file, text, { tenantId: 'acme' })).toThrow(UsageError);
    expect(() => planSubmission(file, text, { tenantId: 'acme' })).toThrow(message);
  });
});

describe('planSubmission without a tenant', () => {
  it.each([
    ['list.csv', 'prompt\nx\n', 'uploading list.csv needs --tenant'],
    [
      'jobs.jsonl',
      '{"tenantId":"t-a","request":{"task":"A"}}\n{"task":"B"}\n',
      'jobs.jsonl line 2 needs --tenant',
    ],
  ])('asks for --tenant where %s names none', (file, text, message) => {
    expect(() => planSubmission(file, text, { tenantId: undefined })).toThrow(message);
  });

  it('keeps the tenants that the lines name', () => {
    const plan = planSubmission('jobs.jsonl', '{"tenantId":"t-a","request":{"task":"A"}}\n', {
      tenantId: undefined,
    });
    expect(plan).toEqual({ kind: 'messages', messages: [{ tenantId: 't-a', request: { task: 'A' } }] });
  });
});

describe('expectedJobs', () => {
  it('names the job each message becomes, as the intake derives it from tenant and key', () => {
    // Prepare
    const plan = planSubmission(
      'jobs.jsonl',
      '{"task":"A"}\n{"request":{"task":"B"},"idempotencyKey":"nightly"}\n',
      { tenantId: 't-a' },
    );
    // Act
    const jobs = expectedJobs(plan, ['m-1', 'm-2']);
    // Assess
    expect(jobs).toEqual([
      { tenantId: 't-a', messageId: 'm-1', jobId: jobIdForKey('t-a', batchIdempotencyKey('sqs:m-1')) },
      { tenantId: 't-a', messageId: 'm-2', jobId: jobIdForKey('t-a', batchIdempotencyKey('nightly')) },
    ]);
    expect(new Set(jobs.map((j) => j.jobId)).size).toBe(2);
  });
});

describe('parseBatchSubmitArgs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parl-batch-'));
  const csv = join(dir, 'list.csv');
  writeFileSync(csv, 'prompt\nWhat is 1+1?\n');

  it('reads the file and the flags, with local defaults', () => {
    expect(parseBatchSubmitArgs([csv, '--tenant', 'acme', '--json'], { PARL_DATA_DIR: dir })).toMatchObject({
      tenantId: 'acme',
      dataDir: dir,
      budgetUsd: 10,
      visibilityTimeoutSeconds: 10,
      latencyScale: 1,
      json: true,
      text: 'prompt\nWhat is 1+1?\n',
    });
  });

  it('leaves the tenant unset without --tenant (the embedded stack makes one)', () => {
    expect(parseBatchSubmitArgs([csv]).tenantId).toBeUndefined();
  });

  it.each([
    [[], 'one file'],
    [[csv, csv], 'one file'],
    [[csv, '--tenant', 'a b'], '--tenant'],
    [[csv, '--as', 'fax'], '--as'],
    [[csv, '--visibility-timeout', '0'], '--visibility-timeout'],
    [[csv, '--budget-usd', '-1'], '--budget-usd'],
    [[join(dir, 'missing.csv')], 'cannot be read'],
    [[csv, '--bogus'], 'bogus'],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parseBatchSubmitArgs(argv)).toThrow(UsageError);
    expect(() => parseBatchSubmitArgs(argv)).toThrow(message);
  });
});

describe('batchTextReport', () => {
  it('summarizes the queue and the jobs by status', () => {
    const text = batchTextReport({
      sent: { messages: 3 },
      status: { queueDepth: 0, inFlight: 0, dlqDepth: 1, jobsStarted: 2 },
      jobs: [
        { tenantId: 'acme', jobId: 'j1', status: 'SUCCEEDED', subtasks: 2 },
        { tenantId: 'acme', jobId: 'j2', status: 'FAILED', error: 'boom' },
      ],
      elapsedMs: 1500,
    });
    expect(text).toContain('3 message(s) sent');
    expect(text).toContain('DLQ 1');
    expect(text).toContain('2 started: 1 SUCCEEDED, 1 FAILED');
    expect(text).toContain('j2  acme  FAILED · boom');
  });
});
