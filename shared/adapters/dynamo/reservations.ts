import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { queryPages } from '#shared/adapters/dynamo/pages';
import type { OpenReservation, ReservationIndex } from '#shared/ports/reservations';

/**
 * The open reservations on the GSI (`RESERVATIONS`, sparse: a budget record is in it from its
 * reservation until it is settled or released), through an injected document client. One query
 * reads only reservations older than the cutoff, whatever the number of tenants and jobs.
 */
export class DynamoReservations implements ReservationIndex {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async *openReservations(createdBefore: string): AsyncIterable<OpenReservation> {
    for await (const page of queryPages(this.client, {
      TableName: this.tableName,
      IndexName: keys.index,
      KeyConditionExpression: 'gsi1pk = :p AND gsi1sk < :before',
      ExpressionAttributeValues: {
        ':p': keys.openReservationsPk,
        ':before': keys.openReservationsFrom(createdBefore),
      },
    })) {
      for (const item of page.Items ?? []) {
        // The budget record's own key: TENANT#<tenantId>#JOB#<jobId>.
        const m = /^TENANT#(.+?)#JOB#(.+)$/.exec(String(item.pk));
        if (m?.[1] && m[2]) yield { tenantId: m[1], jobId: m[2], createdAt: String(item.createdAt) };
      }
    }
  }
}
