import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoRequestWindow } from '#shared/adapters/dynamo/request-window';
import { useDynaliteTable } from './dynalite-table';

/** A tenant's requests per second (request-window.ts) against dynalite, on an injected clock. */
describe('DynamoRequestWindow on dynalite', () => {
  const table = useDynaliteTable();
  let tenantNo = 0;

  /** A window on a client that counts the writes it sends, its clock standing at `nowMs`. */
  const countingWindow = (nowMs: number) => {
    const sent = { writes: 0 };
    const counting = {
      send: (command: never) => {
        sent.writes++;
        return table.doc.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    return { window: new DynamoRequestWindow(counting, table.tableName, () => nowMs), sent };
  };

  it('writes twice for the first request of a second, once for each next one, and four times to refuse one past the limit', async () => {
    // Prepare: a tenant allowed 2 requests a second, all within one second
    const tenantId = `t-${++tenantNo}`;
    const { window, sent } = countingWindow(7_250);
    const writesOf = async () => {
      const before = sent.writes;
      const answer = await window.admit(tenantId, 2);
      return { answer, writes: sent.writes - before };
    };
    // Act
    const first = await writesOf();
    const second = await writesOf();
    const third = await writesOf();
    // Assess: the refusal tries each write twice (a caller that lost the race to open the second
    // counts in it on its second try) and no more
    expect(first).toEqual({ answer: { admitted: true }, writes: 2 });
    expect(second).toEqual({ answer: { admitted: true }, writes: 1 });
    expect(third).toEqual({ answer: { admitted: false, retryAfterSeconds: 1 }, writes: 4 });
  });
});
