import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { unpacked } from '#shared/adapters/dynamo/items';
import { DynamoJobStore } from '#shared/adapters/dynamo/job-store';
import type { JobRecord } from '#shared/ports/job-store';

const TABLE = 'parl-test';

/** A request the stub client was sent: the command's class name and its input. */
interface Sent {
  command: string;
  input: Record<string, unknown> & { RequestItems: Record<string, unknown> };
}

/**
 * A document client that answers every request with `reply` (the request's command and input, and
 * how many were sent before it) and keeps what it was sent: the batch outputs DynamoDB gives under
 * throttling (unprocessed keys and items), which dynalite never does.
 */
function stubClient(reply: (sent: Sent, before: number) => unknown) {
  const sent: Sent[] = [];
  const client = {
    send: (command: { input: Sent['input'] }) => {
      const request = { command: command.constructor.name, input: structuredClone(command.input) };
      sent.push(request);
      // A store that never stops asking fails here instead of spinning forever.
      if (sent.length > 50) return Promise.reject(new Error('more than 50 requests'));
      return Promise.resolve(reply(request, sent.length - 1));
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

const ref = { tenantId: 'acme', jobId: 'job-1' };
const pk = 'TENANT#acme#JOB#job-1';
const subtasks = [1, 2, 3].map((n) => ({ id: `s${n}`, prompt: `p${n}` }));
const subtaskItem = (n: number) => ({ pk, sk: `SUBTASK#s${n}`, id: `s${n}`, prompt: `p${n}` });
const putOf = (n: number) => ({ PutRequest: { Item: subtaskItem(n) } });

/** The items a BatchWriteItem request puts, by subtask id. */
const putIds = (request: Sent) =>
  (request.input.RequestItems[TABLE] as { PutRequest: { Item: Record<string, unknown> } }[]).map(
    (r) => unpacked<{ id: string }>(r.PutRequest.Item).id,
  );

/** The keys a BatchGetItem request asks for, by sort key. */
const askedKeys = (request: Sent) =>
  (request.input.RequestItems[TABLE] as { Keys: { sk: string }[] }).Keys.map((k) => k.sk);

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** The job store's batch writes and reads when DynamoDB leaves part of a batch unprocessed (a stub client). */
describe('DynamoJobStore batches under throttling', () => {
  describe('writing subtasks (BatchWriteItem)', () => {
    it('sends the unprocessed items again, and only those, until none is left', async () => {
      // Prepare: the first request leaves s2 and s3, the second s3
      vi.spyOn(Math, 'random').mockReturnValue(0);
      const left = [[putOf(2), putOf(3)], [putOf(3)], []];
      const { client, sent } = stubClient((_, before) => ({
        UnprocessedItems: { [TABLE]: left[before] },
      }));
      // Act
      await new DynamoJobStore(client, TABLE).putSubtasks(ref, subtasks);
      // Assess
      expect(sent.map((r) => r.command)).toEqual([
        'BatchWriteCommand',
        'BatchWriteCommand',
        'BatchWriteCommand',
      ]);
      expect(sent.map(putIds)).toEqual([['s1', 's2', 's3'], ['s2', 's3'], ['s3']]);
    });

    it('is done after one request when the output has no UnprocessedItems at all', async () => {
      // Prepare
      const { client, sent } = stubClient(() => ({}));
      // Act
      await new DynamoJobStore(client, TABLE).putSubtasks(ref, subtasks);
      // Assess
      expect(sent).toHaveLength(1);
    });

    it('gives up after ten requests that each leave items, naming how many are left', async () => {
      // Prepare
      vi.spyOn(Math, 'random').mockReturnValue(0);
      const { client, sent } = stubClient(() => ({ UnprocessedItems: { [TABLE]: [putOf(2), putOf(3)] } }));
      // Act
      const put = new DynamoJobStore(client, TABLE).putSubtasks(ref, subtasks);
      // Assess
      await expect(put).rejects.toThrow(new Error('BatchWrite left 2 items unprocessed'));
      expect(sent).toHaveLength(10);
    });

    it('succeeds when the tenth request writes what was left', async () => {
      // Prepare
      vi.spyOn(Math, 'random').mockReturnValue(0);
      const { client, sent } = stubClient((_, before) => ({
        UnprocessedItems: { [TABLE]: before < 9 ? [putOf(3)] : [] },
      }));
      // Act
      await new DynamoJobStore(client, TABLE).putSubtasks(ref, subtasks);
      // Assess
      expect(sent).toHaveLength(10);
    });

    it('waits 25 ms × 2^round × a random fraction before sending again (50 ms × 0.5 in the first round)', async () => {
      // Prepare
      vi.useFakeTimers();
      vi.spyOn(Math, 'random').mockReturnValue(0.5);
      const { client, sent } = stubClient((_, before) => ({
        UnprocessedItems: { [TABLE]: before === 0 ? [putOf(3)] : [] },
      }));
      // Act
      const put = new DynamoJobStore(client, TABLE).putSubtasks(ref, subtasks);
      await vi.advanceTimersByTimeAsync(0);
      const first = sent.length;
      await vi.advanceTimersByTimeAsync(24);
      const before25 = sent.length;
      await vi.advanceTimersByTimeAsync(1);
      await put;
      // Assess
      expect([first, before25, sent.length]).toEqual([1, 1, 2]);
    });
  });

  describe('reading subtasks and jobs (BatchGetItem)', () => {
    it('asks for the unprocessed keys again and returns the items of every answer', async () => {
      // Prepare: the first answer has s1 and leaves s2 and s3 unprocessed
      const { client, sent } = stubClient((request, before) =>
        before === 0
          ? {
              Responses: { [TABLE]: [subtaskItem(1)] },
              UnprocessedKeys: {
                [TABLE]: {
                  Keys: [
                    { pk, sk: 'SUBTASK#s2' },
                    { pk, sk: 'SUBTASK#s3' },
                  ],
                  ConsistentRead: true,
                },
              },
            }
          : { Responses: { [TABLE]: askedKeys(request).map((sk) => subtaskItem(Number(sk.slice(-1)))) } },
      );
      // Act
      const read = await new DynamoJobStore(client, TABLE).getSubtasks(ref, ['s3', 's1', 's2']);
      // Assess
      expect(read).toEqual([subtasks[2], subtasks[0], subtasks[1]]);
      expect(sent.map(askedKeys)).toEqual([
        ['SUBTASK#s3', 'SUBTASK#s1', 'SUBTASK#s2'],
        ['SUBTASK#s2', 'SUBTASK#s3'],
      ]);
    });

    it('stops at an answer whose UnprocessedKeys is empty, as DynamoDB gives it', async () => {
      // Prepare
      const { client, sent } = stubClient(() => ({
        Responses: { [TABLE]: [subtaskItem(1)] },
        UnprocessedKeys: {},
      }));
      // Act
      const read = await new DynamoJobStore(client, TABLE).getSubtasks(ref, ['s1']);
      // Assess
      expect(read).toEqual([subtasks[0]]);
      expect(sent).toHaveLength(1);
    });

    it('reads only the subtasks’ items for getSubtasks, not the job’s', async () => {
      // Prepare
      const { client, sent } = stubClient(() => ({ Responses: { [TABLE]: [subtaskItem(1)] } }));
      // Act
      const read = await new DynamoJobStore(client, TABLE).getSubtasks(ref, ['s1']);
      // Assess
      expect(read).toEqual([subtasks[0]]);
      expect(sent.map(askedKeys)).toEqual([['SUBTASK#s1']]);
    });

    it('reads nothing from an answer without Responses', async () => {
      // Prepare
      const { client } = stubClient(() => ({}));
      // Act
      const read = await new DynamoJobStore(client, TABLE).getJobAndSubtasks(ref, ['s1']);
      // Assess
      expect(read).toEqual({ job: undefined, subtasks: [] });
    });

    it('lists consistently: each job as its own item has it, in the listing’s order, without one gone since', async () => {
      // Prepare: the index still has job-2 ACCEPTED and job-3, which is gone; the items answer out of order
      const job = (n: number, status: JobRecord['status']): JobRecord => ({
        tenantId: 'acme',
        jobId: `job-${n}`,
        status,
        request: { task: `task ${n}`, workload: 'generic', mode: 'parl' },
        acceptedAt: `2026-01-0${n}T00:00:00.000Z`,
      });
      const item = (j: JobRecord) => ({
        pk: `TENANT#acme#JOB#${j.jobId}`,
        sk: 'JOB',
        gsi1pk: 'TENANT#acme',
        gsi1sk: `JOB#${j.acceptedAt}#${j.jobId}`,
        ...j,
      });
      const { client, sent } = stubClient((request) =>
        request.command === 'QueryCommand'
          ? { Items: [item(job(2, 'ACCEPTED')), item(job(1, 'ACCEPTED')), item(job(3, 'ACCEPTED'))] }
          : { Responses: { [TABLE]: [item(job(1, 'SUCCEEDED')), item(job(2, 'RUNNING'))] } },
      );
      const store = new DynamoJobStore(client, TABLE);
      // Act
      const consistent = await store.listJobs('acme', { consistent: true });
      const fromIndex = await store.listJobs('acme');
      // Assess
      expect(consistent).toEqual({ items: [job(2, 'RUNNING'), job(1, 'SUCCEEDED')] });
      expect(fromIndex.items.map((j) => [j.jobId, j.status])).toEqual([
        ['job-2', 'ACCEPTED'],
        ['job-1', 'ACCEPTED'],
        ['job-3', 'ACCEPTED'],
      ]);
      expect(sent.map((r) => r.command)).toEqual(['QueryCommand', 'BatchGetCommand', 'QueryCommand']);
    });
  });
});
