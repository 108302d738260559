import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  AGENTS_PER_ATTEMPTS_ITEM,
  ATTEMPTS_PER_REQUEST,
  AttemptCounters,
  attemptsBucket,
  distinctLead,
} from '#shared/adapters/dynamo/attempt-counters';
import { keys } from '#shared/adapters/dynamo/keys';
import { useDynaliteTable, watchedClient } from './dynalite-table';

const table = useDynaliteTable();

const agents = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => `agent-${String(from + i).padStart(4, '0')}`);

describe('attemptsBucket and distinctLead', () => {
  it('puts consecutively numbered agents on one item, and agents without a number on the first', () => {
    expect(attemptsBucket('agent-0001')).toBe(0);
    expect(attemptsBucket(`agent-${AGENTS_PER_ATTEMPTS_ITEM - 1}`)).toBe(0);
    expect(attemptsBucket(`s2-agent-${AGENTS_PER_ATTEMPTS_ITEM}`)).toBe(1);
    expect(attemptsBucket('agent-1000')).toBe(Math.floor(1000 / AGENTS_PER_ATTEMPTS_ITEM));
    expect(attemptsBucket('synthesizer')).toBe(0);
  });

  it('takes distinct agents from the front, up to a request’s worth', () => {
    expect(distinctLead(['a', 'b', 'a', 'c'])).toBe(2);
    expect(distinctLead(['a'])).toBe(1);
    expect(distinctLead(agents(ATTEMPTS_PER_REQUEST + 5))).toBe(ATTEMPTS_PER_REQUEST);
  });
});

describe('AttemptCounters', () => {
  it('counts each agent’s invocations, the agents starting together in a few requests', async () => {
    // Prepare
    const { client, sent } = watchedClient(table.doc);
    const counters = new AttemptCounters(client, table.tableName);
    const ref = { tenantId: 't-a', jobId: 'job-together' };
    const ids = agents(150);
    // Act: 150 agents start at once, then three of them again (retried)
    const first = await Promise.all(ids.map((id) => counters.next(ref, 1, 'sub', id)));
    const again = await Promise.all(ids.slice(0, 3).map((id) => counters.next(ref, 1, 'sub', id)));
    // Assess: the 150 asks of one turn in two requests of at most 100, the three again in one
    expect(first).toEqual(ids.map(() => 1));
    expect(again).toEqual([2, 2, 2]);
    expect(sent).toHaveLength(2 + 1);
    const item = await table.doc.send(
      new GetCommand({
        TableName: table.tableName,
        Key: { pk: keys.jobPk(ref), sk: keys.attempts(1, 'sub', 0) },
        ConsistentRead: true,
      }),
    );
    expect(item.Item?.['attempts#agent-0001']).toBe(2);
    expect(item.Item?.['attempts#agent-0150']).toBe(1);
  });

  it('gives the same agent asking twice at once two attempts, and keeps stages, roles and items apart', async () => {
    // Prepare
    const counters = new AttemptCounters(table.doc, table.tableName);
    const ref = { tenantId: 't-a', jobId: 'job-apart' };
    const far = `agent-${AGENTS_PER_ATTEMPTS_ITEM + 1}`;
    // Act
    const twice = await Promise.all([
      counters.next(ref, 1, 'sub', 'agent-0001'),
      counters.next(ref, 1, 'sub', 'agent-0002'),
      counters.next(ref, 1, 'sub', 'agent-0001'),
      counters.next(ref, 1, 'sub', 'agent-0001'),
    ]);
    const others = await Promise.all([
      counters.next(ref, 2, 'sub', 'agent-0001'),
      counters.next(ref, 1, 'main', 'agent-0001'),
      counters.next(ref, 1, 'sub', far),
      counters.next({ ...ref, jobId: 'job-other' }, 1, 'sub', 'agent-0001'),
    ]);
    // Assess
    expect(twice.slice().sort()).toEqual([1, 1, 2, 3]);
    expect(twice[1]).toBe(1);
    expect(others).toEqual([1, 1, 1, 1]);
    expect(await counters.next(ref, 1, 'sub', far)).toBe(2);
  });
});
