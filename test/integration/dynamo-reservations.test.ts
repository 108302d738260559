import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { keys } from '#shared/adapters/dynamo/keys';
import { DynamoReservations } from '#shared/adapters/dynamo/reservations';
import type { OpenReservation } from '#shared/ports/reservations';
import { useDynaliteTable } from './dynalite-table';

const table = useDynaliteTable();

/** An item in the open reservations' index, under `pk`, reserved at `createdAt`. */
const putIndexed = (pk: string, createdAt: string) =>
  table.doc.send(
    new PutCommand({
      TableName: table.tableName,
      Item: {
        pk,
        sk: 'BUDGET',
        gsi1pk: keys.openReservationsPk,
        gsi1sk: keys.openReservationsFrom(createdAt),
        createdAt,
      },
    }),
  );

async function all(reservations: AsyncIterable<OpenReservation>): Promise<OpenReservation[]> {
  const out: OpenReservation[] = [];
  for await (const r of reservations) out.push(r);
  return out;
}

/** DynamoReservations.openReservations on dynalite: what it makes of the index's items. */
describe('DynamoReservations.openReservations', () => {
  it('names the tenant and job of each budget record before the cutoff, and skips an item whose key is not a budget record’s', async () => {
    // Prepare: two budget records (one after the cutoff), and two items in the index with other keys
    await putIndexed('TENANT#t-1#JOB#job-1', '2026-12-01T00:00:00.000Z');
    await putIndexed('TENANT#t-2#JOB#job-2', '2026-12-03T00:00:00.000Z');
    await putIndexed('POLICY#TENANT#t-3#JOB#job-3', '2026-12-01T00:00:01.000Z');
    await putIndexed('SOMETHING-ELSE', '2026-12-01T00:00:02.000Z');
    // Act
    const open = await all(
      new DynamoReservations(table.doc, table.tableName).openReservations('2026-12-02T00:00:00.000Z'),
    );
    // Assess
    expect(open).toEqual([{ tenantId: 't-1', jobId: 'job-1', createdAt: '2026-12-01T00:00:00.000Z' }]);
  });
});
