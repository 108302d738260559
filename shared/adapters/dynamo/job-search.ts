import type { DynamoDBDocumentClient, ScanCommandInput } from '@aws-sdk/lib-dynamodb';
import { withoutKeys } from '#shared/adapters/dynamo/items';
import { keys } from '#shared/adapters/dynamo/keys';
import { scanPages } from '#shared/adapters/dynamo/pages';
import type { JobCriteria, JobRecord, JobSearch } from '#shared/ports/job-store';

/**
 * Jobs across tenants by a scan of the table, filtered on the job items: for the embedded stack's
 * tools (which jobs did the batch intake start, which did a stopped server leave running), through
 * an injected document client. A scan reads the whole table; a cloud table is never searched so.
 */
export class DynamoJobSearch implements JobSearch {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async *findJobs(criteria: JobCriteria): AsyncIterable<JobRecord> {
    for await (const page of scanPages(this.client, this.scanOf(criteria))) {
      for (const item of page.Items ?? []) yield withoutKeys<JobRecord & Record<string, unknown>>(item)!;
    }
  }

  async countJobs(criteria: JobCriteria): Promise<number> {
    let count = 0;
    for await (const page of scanPages(this.client, { ...this.scanOf(criteria), Select: 'COUNT' })) {
      count += page.Count ?? 0;
    }
    return count;
  }

  /** The scan of the job items that match `criteria`. */
  private scanOf(criteria: JobCriteria): ScanCommandInput {
    const filters = ['sk = :job'];
    const values: Record<string, unknown> = { ':job': keys.job };
    const names: Record<string, string> = {};
    if (criteria.idempotencyKeyPrefix !== undefined) {
      filters.push('begins_with(idempotencyKey, :key)');
      values[':key'] = criteria.idempotencyKeyPrefix;
    }
    if (criteria.statuses !== undefined && criteria.statuses.length > 0) {
      names['#s'] = 'status';
      const statusValues = criteria.statuses.map((status, i) => [`:s${i}`, status] as const);
      filters.push(`#s IN (${statusValues.map(([name]) => name).join(', ')})`);
      for (const [name, status] of statusValues) values[name] = status;
    }
    return {
      TableName: this.tableName,
      FilterExpression: filters.join(' AND '),
      ExpressionAttributeValues: values,
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    };
  }
}
