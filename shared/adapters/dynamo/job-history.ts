import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { queryPages } from '#shared/adapters/dynamo/pages';
import type { JobHistory } from '#shared/ports/job-history';
import type { JobRecord } from '#shared/ports/job-store';

/**
 * A tenant's jobs through the tenant-jobs GSI (keys only are needed from it), each read back from
 * its own item with a consistent read.
 */
export class DynamoJobHistory implements JobHistory {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async *listJobs(tenantId: string, opts: { since?: string } = {}): AsyncIterable<JobRecord> {
    for await (const page of queryPages(this.client, {
      TableName: this.tableName,
      IndexName: keys.index,
      KeyConditionExpression: opts.since === undefined ? 'gsi1pk = :pk' : 'gsi1pk = :pk AND gsi1sk >= :from',
      ExpressionAttributeValues: {
        ':pk': keys.tenantJobsPk(tenantId),
        ...(opts.since === undefined ? {} : { ':from': `JOB#${opts.since}` }),
      },
      ScanIndexForward: true,
    })) {
      for (const item of page.Items ?? []) {
        const got = await this.client.send(
          new GetCommand({
            TableName: this.tableName,
            Key: { pk: item.pk, sk: item.sk },
            ConsistentRead: true,
          }),
        );
        if (!got.Item) continue;
        const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, ...job } = got.Item;
        yield job as JobRecord;
      }
    }
  }
}
