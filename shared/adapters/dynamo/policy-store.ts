import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { queryByPrefix } from '#shared/adapters/dynamo/pages';
import { TransientError } from '#shared/domain/errors';
import type { PolicyState } from '#shared/domain/policy';
import type { PolicyStore } from '#shared/ports/policy-store';

/** How often an update re-reads after losing a race before giving up with a TransientError. */
export const POLICY_UPDATE_ATTEMPTS = 25;

const strip = (item: Record<string, unknown>): PolicyState => {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as unknown as PolicyState;
};

/**
 * Policies in the one table (pk `TENANT#<tenantId>`, sk `POLICY#<taskClass>`), through an injected
 * document client. Updates are optimistic: read, change, write on the condition that `version` is
 * still the one read; a lost race re-reads and retries with jittered backoff.
 */
export class DynamoPolicyStore implements PolicyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(tenantId: string, taskClass: string): Promise<PolicyState | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.tenantPk(tenantId), sk: keys.policy(taskClass) },
        ConsistentRead: true,
      }),
    );
    return out.Item ? strip(out.Item) : undefined;
  }

  async list(tenantId: string): Promise<PolicyState[]> {
    const items = await queryByPrefix(this.client, this.tableName, keys.tenantPk(tenantId), keys.policy(''));
    return items.map(strip);
  }

  async update(
    tenantId: string,
    taskClass: string,
    initial: () => PolicyState,
    change: (current: PolicyState) => PolicyState,
  ): Promise<PolicyState> {
    for (let attempt = 1; attempt <= POLICY_UPDATE_ATTEMPTS; attempt++) {
      const stored = await this.get(tenantId, taskClass);
      const current = stored ?? initial();
      const next = change(current);
      if (next === current) return current;
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...next,
              tenantId,
              taskClass,
              version: current.version + 1,
              pk: keys.tenantPk(tenantId),
              sk: keys.policy(taskClass),
            },
            ...(stored
              ? {
                  ConditionExpression: '#v = :v',
                  ExpressionAttributeNames: { '#v': 'version' },
                  ExpressionAttributeValues: { ':v': current.version },
                }
              : { ConditionExpression: 'attribute_not_exists(pk)' }),
          }),
        );
        return { ...next, version: current.version + 1 };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(500, 10 * 2 ** attempt)));
      }
    }
    throw new TransientError(
      `the policy ${taskClass} of tenant ${tenantId} changed under ${POLICY_UPDATE_ATTEMPTS} update attempts in a row`,
    );
  }
}
