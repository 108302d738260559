import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Coalescer, KeyedCoalescers } from '#shared/adapters/dynamo/coalescer';
import { keys } from '#shared/adapters/dynamo/keys';
import type { Role } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';

/** The attempt counters of this many consecutively numbered agents share an item. */
export const AGENTS_PER_ATTEMPTS_ITEM = 256;
/** The most counters one request adds to (its update expression stays far below DynamoDB's 4 KB). */
export const ATTEMPTS_PER_REQUEST = 100;

/** The item holding an agent's counter: by the number its id ends in (`agent-0042`), else the first. */
export function attemptsBucket(agentId: string): number {
  const digits = /(\d+)$/.exec(agentId)?.[1];
  return digits === undefined ? 0 : Math.floor(Number(digits) / AGENTS_PER_ATTEMPTS_ITEM);
}

/** An agent's counter on the shared item (prefixed: no agent id can name the item's key). */
const counterName = (agentId: string) => `attempts#${agentId}`;

/** How many of the waiting asks, from the first, one request can take: distinct agents, at most {@link ATTEMPTS_PER_REQUEST}. */
export function distinctLead(agentIds: readonly string[]): number {
  const seen = new Set<string>();
  for (const id of agentIds) {
    if (seen.has(id) || seen.size === ATTEMPTS_PER_REQUEST) break;
    seen.add(id);
  }
  return seen.size;
}

/**
 * Counts the invocations of each agent (a retried Lambda is attempt 2), one attribute per agent on
 * an item shared by {@link AGENTS_PER_ATTEMPTS_ITEM} agents of a stage and role: the agents of one
 * process starting together (the embedded stack runs them all in one) take one `UpdateItem`, not
 * one each. The first ask goes at once; those made while it is on its way go together next.
 */
export class AttemptCounters {
  private readonly counters = new KeyedCoalescers<string, number>((key) => {
    const [pk, sk] = key.split('\n') as [string, string];
    return new Coalescer(distinctLead, (agentIds) => this.add(pk, sk, agentIds));
  });

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** The number of this invocation of the agent: 1 for its first. */
  next(ref: JobRef, stage: number, role: Role, agentId: string): Promise<number> {
    const sk = keys.attempts(stage, role, attemptsBucket(agentId));
    return this.counters.ask(`${keys.jobPk(ref)}\n${sk}`, agentId);
  }

  private async add(pk: string, sk: string, agentIds: string[]): Promise<number[]> {
    const out = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk, sk },
        UpdateExpression: `ADD ${agentIds.map((_, i) => `#a${i} :one`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(agentIds.map((id, i) => [`#a${i}`, counterName(id)])),
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return agentIds.map((id) => Number(out.Attributes?.[counterName(id)] ?? 1));
  }
}
