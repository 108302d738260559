import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  agentItem,
  agentOf,
  finishedAgentItems,
  resultItem,
  resultsOf,
  SameTurnReads,
} from '#shared/adapters/dynamo/agent-results';
import { AttemptCounters } from '#shared/adapters/dynamo/attempt-counters';
import { BatchGets } from '#shared/adapters/dynamo/batch-gets';
import { BATCH_WRITE_MAX, BatchWrites, putInBatches, writeBatch } from '#shared/adapters/dynamo/batch-writes';
import { decodeCursor, encodeCursor, INDEX_KEY, TABLE_KEY } from '#shared/adapters/dynamo/cursor';
import { chunks, packedItem, unpacked, withoutKeys } from '#shared/adapters/dynamo/items';
import { keys } from '#shared/adapters/dynamo/keys';
import { queryByPrefix, queryPages } from '#shared/adapters/dynamo/pages';
import { datasetItemId } from '#shared/domain/input-bounds';
import { type Role, type StepRecord, type Subtask, TERMINAL_STATUSES } from '#shared/domain/types';
import type {
  AgentRecord,
  JobListing,
  JobRecord,
  JobRef,
  JobStore,
  ProgressCounts,
  StepRecorder,
  SubtaskResult,
} from '#shared/ports/job-store';
import type { Page, PageOptions } from '#shared/ports/paging';

const BATCH_GET_MAX = 100;
/**
 * Record writes and reads on their way at once: 1,000 sub-agents ending together make ~120 writes
 * of 25, which four lanes sent in 30 rounds (a 1,000-sub-agent job's last answer was ~320 ms from
 * the synthesis locally; 16 lanes: ~200 ms, 32 no better). In AWS a process holds one sub-agent.
 */
const RECORD_LANES = 16;

/**
 * Jobs, subtasks, results, steps and agents in one DynamoDB table, through an injected document client.
 * Step writes are keyed by (stage, role, agent, step), so a retried Lambda overwrites its own steps
 * instead of counting them twice.
 */
export class DynamoJobStore implements JobStore, StepRecorder {
  private readonly reads = new BatchGets((itemKeys) => this.batchGet(itemKeys), BATCH_GET_MAX, RECORD_LANES);
  /** Step and agent records, with other callers' of this process (BatchWrites). */
  private readonly writes = new BatchWrites(
    (items) =>
      items.length === 1
        ? this.client
            .send(new PutCommand({ TableName: this.tableName, Item: items[0] }))
            .then(() => undefined)
        : putInBatches(this.client, this.tableName, items),
    BATCH_WRITE_MAX,
    RECORD_LANES,
  );

  /** A job's agent items, by partition: read once for the agents and the results asked together (Aggregate). */
  private readonly agentReads = new SameTurnReads((pk) =>
    queryByPrefix(this.client, this.tableName, pk, keys.agentPrefix),
  );

  /** Invocations per agent (AttemptCounters). */
  private readonly attempts: AttemptCounters;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.attempts = new AttemptCounters(client, tableName);
  }

  async createJob(
    job: JobRecord,
    subtasks: readonly Subtask[],
    dataset?: Record<string, unknown[]>,
  ): Promise<boolean> {
    await this.putSubtasks(job, subtasks);
    if (dataset) {
      const items: Record<string, unknown>[] = [];
      for (const [kind, records] of Object.entries(dataset)) {
        records.forEach((record, i) => {
          items.push(
            packedItem({ pk: keys.jobPk(job), sk: keys.data(kind, datasetItemId(record, i)) }, { record }),
          );
        });
      }
      await putInBatches(this.client, this.tableName, items);
    }
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: keys.jobPk(job),
            sk: keys.job,
            gsi1pk: keys.tenantJobsPk(job.tenantId),
            gsi1sk: keys.tenantJobsSk(job.acceptedAt, job.jobId),
            ...job,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async getJob(ref: JobRef): Promise<JobRecord | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: keys.jobPk(ref), sk: keys.job },
        ConsistentRead: true,
      }),
    );
    return withoutKeys<JobRecord & Record<string, unknown>>(out.Item);
  }

  async updateJob(ref: JobRef, patch: Partial<Omit<JobRecord, 'tenantId' | 'jobId'>>): Promise<void> {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: keys.jobPk(ref), sk: keys.job },
        UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
        ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
  }

  async finishJob(
    ref: JobRef,
    outcome: Pick<JobRecord, 'status' | 'finishedAt' | 'metrics' | 'result' | 'error'>,
  ): Promise<boolean> {
    const entries = Object.entries(outcome).filter(([, v]) => v !== undefined);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.jobPk(ref), sk: keys.job },
          UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
          ExpressionAttributeNames: {
            ...Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
            '#s': 'status',
          },
          ExpressionAttributeValues: {
            ...Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
            ...Object.fromEntries(TERMINAL_STATUSES.map((status, i) => [`:t${i}`, status])),
          },
          ConditionExpression: `attribute_exists(pk) AND NOT #s IN (${TERMINAL_STATUSES.map((_, i) => `:t${i}`).join(', ')})`,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async putSubtasks(ref: JobRef, subtasks: readonly Subtask[]): Promise<void> {
    await putInBatches(
      this.client,
      this.tableName,
      subtasks.map((s) => packedItem({ pk: keys.jobPk(ref), sk: keys.subtask(s.id) }, s)),
    );
  }

  async listSubtasks(ref: JobRef): Promise<Subtask[]> {
    return (await this.queryPrefix(ref, keys.subtaskPrefix)).map((i) => unpacked<Subtask>(i));
  }

  async getSubtasks(ref: JobRef, ids: readonly string[]): Promise<Subtask[]> {
    return (await this.getJobAndSubtasks(ref, ids, false)).subtasks;
  }

  /**
   * One BatchGetItem (per 100 keys) for the job's item and the subtasks' (consistent reads), shared
   * with the callers of this process asking at the same time (BatchGets).
   */
  async getJobAndSubtasks(
    ref: JobRef,
    ids: readonly string[],
    withJob = true,
  ): Promise<{ job: JobRecord | undefined; subtasks: Subtask[] }> {
    const pk = keys.jobPk(ref);
    const subtaskKeys = [...new Set(ids)].map((id) => ({ pk, sk: keys.subtask(id) }));
    const items = await this.reads.get(withJob ? [{ pk, sk: keys.job }, ...subtaskKeys] : subtaskKeys);
    const found = new Map<string, Subtask>();
    let job: JobRecord | undefined;
    for (const item of items) {
      if (item.sk === keys.job) job = withoutKeys<JobRecord & Record<string, unknown>>(item);
      else {
        const subtask = unpacked<Subtask>(item);
        found.set(subtask.id, subtask);
      }
    }
    const subtasks = ids.map((id) => found.get(id)).filter((s): s is Subtask => s !== undefined);
    return { job, subtasks };
  }

  async getDatasetItem(ref: JobRef, kind: string, id: string): Promise<unknown | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.jobPk(ref), sk: keys.data(kind, id) } }),
    );
    return out.Item ? unpacked<{ record?: unknown }>(out.Item).record : undefined;
  }

  async putResult(ref: JobRef, result: SubtaskResult): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: resultItem(ref, result) }));
  }

  /** The result items and the results the agent items carry: each subtask's latest ({@link latestResults}). */
  async listResults(ref: JobRef): Promise<SubtaskResult[]> {
    const [items, agents] = await Promise.all([
      this.queryPrefix(ref, keys.resultPrefix),
      this.agentReads.get(keys.jobPk(ref)),
    ]);
    return resultsOf(items, agents);
  }

  nextAttempt(ref: JobRef, stage: number, role: Role, agentId: string): Promise<number> {
    return this.attempts.next(ref, stage, role, agentId);
  }

  async recordStep(ref: JobRef, step: StepRecord): Promise<void> {
    const key = { pk: keys.jobPk(ref), sk: keys.step(step.stage, step.role, step.agentId, step.step) };
    await this.writes.put([packedItem(key, step)]);
  }

  async finishAgent(
    ref: JobRef,
    agent: AgentRecord,
    role: Role = 'sub',
    results: readonly SubtaskResult[] = [],
  ): Promise<void> {
    // Only an earlier attempt can have left steps: a first one has nothing to look up (a Query a sub-agent).
    const stale =
      agent.attempt > 1
        ? (await this.queryPrefix(ref, keys.agentStepsPrefix(agent.stage, role, agent.agentId))).filter(
            (s) => unpacked<StepRecord>(s).step > agent.stepCount,
          )
        : [];
    if (stale.length > 0) {
      for (const part of chunks(stale, BATCH_WRITE_MAX)) {
        await writeBatch(
          this.client,
          this.tableName,
          part.map((s) => ({ DeleteRequest: { Key: { pk: s.pk, sk: s.sk } } })),
        );
      }
    }
    // In one request (shared with other callers' items, never split); past one request's worth,
    // chunk after chunk, the record in the last.
    await this.writes.put(finishedAgentItems(ref, agent, role, results));
  }

  async recordAgentFailure(
    ref: JobRef,
    agent: Pick<AgentRecord, 'stage' | 'agentId' | 'subtaskIds'> & { error: string },
  ): Promise<boolean> {
    const own = await this.queryPrefix(ref, keys.agentStepsPrefix(agent.stage, 'sub', agent.agentId));
    const record: AgentRecord = {
      ...agent,
      status: 'FAILED',
      attempt: Math.max(0, ...own.map((s) => unpacked<StepRecord>(s).attempt ?? 0)),
      stepCount: own.length,
    };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: agentItem({ pk: keys.jobPk(ref), sk: keys.agent(agent.stage, agent.agentId) }, record),
          ConditionExpression: 'attribute_not_exists(sk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async listSteps(ref: JobRef): Promise<StepRecord[]> {
    return (await this.queryPrefix(ref, keys.stepPrefix)).map((i) => unpacked<StepRecord>(i));
  }

  async listAgentSteps(ref: JobRef, stage: number, role: Role, agentId: string): Promise<StepRecord[]> {
    return (await this.queryPrefix(ref, keys.agentStepsPrefix(stage, role, agentId))).map((i) =>
      unpacked<StepRecord>(i),
    );
  }

  async listStepsPage(ref: JobRef, opts: PageOptions = {}): Promise<Page<StepRecord>> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': keys.jobPk(ref), ':p': keys.stepPrefix },
        Limit: opts.limit ?? 100,
        ConsistentRead: true,
        ExclusiveStartKey: decodeCursor(
          opts.cursor,
          TABLE_KEY,
          (k) => k.pk === keys.jobPk(ref) && k.sk.startsWith(keys.stepPrefix),
        ),
      }),
    );
    const nextCursor = encodeCursor(out.LastEvaluatedKey);
    return {
      items: (out.Items ?? []).map((i) => unpacked<StepRecord>(i)),
      ...(nextCursor ? { nextCursor } : {}),
    };
  }

  async listJobs(tenantId: string, opts: JobListing = {}): Promise<Page<JobRecord>> {
    const pk = keys.tenantJobsPk(tenantId);
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: keys.index,
        KeyConditionExpression:
          opts.since === undefined
            ? 'gsi1pk = :p AND begins_with(gsi1sk, :job)'
            : 'gsi1pk = :p AND gsi1sk >= :from',
        ExpressionAttributeValues: {
          ':p': pk,
          ...(opts.since === undefined
            ? { ':job': keys.tenantJobsPrefix }
            : { ':from': keys.tenantJobsFrom(opts.since) }),
        },
        ScanIndexForward: opts.order === 'oldest',
        Limit: opts.limit ?? 50,
        ExclusiveStartKey: decodeCursor(
          opts.cursor,
          INDEX_KEY,
          (k) =>
            k.gsi1pk === pk &&
            k.gsi1sk.startsWith(keys.tenantJobsPrefix) &&
            k.pk.startsWith(`${pk}#`) &&
            k.sk === keys.job,
        ),
      }),
    );
    const listed = (out.Items ?? []).map((i) => withoutKeys<JobRecord & Record<string, unknown>>(i)!);
    const nextCursor = encodeCursor(out.LastEvaluatedKey);
    return {
      items: opts.consistent ? await this.getJobs(listed) : listed,
      ...(nextCursor ? { nextCursor } : {}),
    };
  }

  /** The jobs' own items, read consistently, in the order of `refs` (a job gone meanwhile is left out). */
  private async getJobs(refs: readonly JobRef[]): Promise<JobRecord[]> {
    const found = new Map<string, JobRecord>();
    const items = await this.batchGet(refs.map((ref) => ({ pk: keys.jobPk(ref), sk: keys.job })));
    for (const item of items) {
      const job = withoutKeys<JobRecord & Record<string, unknown>>(item)!;
      found.set(job.jobId, job);
    }
    return refs.map((ref) => found.get(ref.jobId)).filter((j): j is JobRecord => j !== undefined);
  }

  async listAgents(ref: JobRef): Promise<AgentRecord[]> {
    return (await this.agentReads.get(keys.jobPk(ref))).map(agentOf);
  }

  async countFinishedAgents(ref: JobRef, stage: number): Promise<number> {
    let count = 0;
    for await (const page of queryPages(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': keys.jobPk(ref), ':p': keys.stageAgentsPrefix(stage) },
      Select: 'COUNT',
    })) {
      count += page.Count ?? 0;
    }
    return count;
  }

  async countProgress(ref: JobRef): Promise<ProgressCounts> {
    const counts: ProgressCounts = { succeeded: 0, failed: 0, steps: 0 };
    const agents = queryPages(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': keys.jobPk(ref), ':p': keys.agentPrefix },
      ExpressionAttributeNames: { '#s': 'status' },
      ProjectionExpression: '#s',
      ConsistentRead: true,
    });
    const steps = queryPages(this.client, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': keys.jobPk(ref), ':p': keys.stepPrefix },
      Select: 'COUNT',
      ConsistentRead: true,
    });
    const countAgents = async () => {
      for await (const page of agents) {
        for (const item of page.Items ?? []) {
          if (item.status === 'FAILED') counts.failed++;
          else counts.succeeded++;
        }
      }
    };
    const countSteps = async () => {
      for await (const page of steps) counts.steps += page.Count ?? 0;
    };
    await Promise.all([countAgents(), countSteps()]);
    return counts;
  }

  private queryPrefix(ref: JobRef, prefix: string): Promise<Record<string, unknown>[]> {
    return queryByPrefix(this.client, this.tableName, keys.jobPk(ref), prefix);
  }

  /** The items of `itemKeys` (consistent reads, 100 a request, unprocessed keys asked again), in no order. */
  private async batchGet(itemKeys: readonly Record<string, string>[]): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    for (const part of chunks(itemKeys, BATCH_GET_MAX)) {
      let request: Record<string, { Keys: Record<string, string>[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: part, ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const out = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        items.push(...(out.Responses?.[this.tableName] ?? []));
        request = out.UnprocessedKeys as typeof request;
      }
    }
    return items;
  }
}
