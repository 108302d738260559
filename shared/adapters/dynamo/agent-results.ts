import { packedItem, unpacked } from '#shared/adapters/dynamo/items';
import { keys } from '#shared/adapters/dynamo/keys';
import type { Role } from '#shared/domain/types';
import type { AgentRecord, JobRef, SubtaskResult } from '#shared/ports/job-store';

/**
 * A sub-agent's last results ride in its agent item (attribute {@link AGENT_RESULTS}) instead of
 * items of their own: a one-subtask sub-agent writes two items (its step, its agent), not three,
 * and Aggregate reads them with the agents. Results stored otherwise (`putResult`: a batched
 * agent's earlier subtasks, the subtasks a deadline left) stay `RESULT#<subtaskId>` items.
 */
export const AGENT_RESULTS = 'results';

/** The most an agent item carries of results (JSON bytes); beyond, they are items of their own. */
export const MAX_AGENT_RESULT_BYTES = 64 * 1024;

/** Whether `results` go in their agent's item: some, and small enough to keep it far below 400 KB. */
export function carriedByAgent(results: readonly SubtaskResult[]): boolean {
  return results.length > 0 && Buffer.byteLength(JSON.stringify(results)) <= MAX_AGENT_RESULT_BYTES;
}

/**
 * The items a finished agent is stored as: a sub-agent's record carrying its results (one item, not
 * one more per result) when they are small; otherwise the results, then the record (none for the
 * orchestrator's roles). Packed ({@link packedItem}), the status an attribute of its own (progress
 * counts read it alone).
 */
export function finishedAgentItems(
  ref: JobRef,
  agent: AgentRecord,
  role: Role,
  results: readonly SubtaskResult[],
): Record<string, unknown>[] {
  const carried = role === 'sub' && carriedByAgent(results);
  const items: Record<string, unknown>[] = carried ? [] : results.map((r) => resultItem(ref, r));
  if (role === 'sub') {
    const key = { pk: keys.jobPk(ref), sk: keys.agent(agent.stage, agent.agentId) };
    items.push(agentItem(key, agent, carried ? results : []));
  }
  return items;
}

/** An agent's item (`key`), packed, carrying `results` when there are any. */
export function agentItem(
  key: Record<string, string>,
  agent: AgentRecord,
  results: readonly SubtaskResult[] = [],
): Record<string, unknown> {
  return packedItem(key, results.length > 0 ? { ...agent, [AGENT_RESULTS]: results } : agent, ['status']);
}

/** A result as an item of its own (`RESULT#<subtaskId>`), packed. */
export function resultItem(ref: JobRef, result: SubtaskResult): Record<string, unknown> {
  return packedItem({ pk: keys.jobPk(ref), sk: keys.result(result.subtaskId) }, result);
}

/** The results of a job's result items and of those its agent items carry ({@link latestResults}). */
export function resultsOf(
  resultItems: readonly Record<string, unknown>[],
  agentItems: readonly Record<string, unknown>[],
): SubtaskResult[] {
  return latestResults(
    resultItems.map((i) => unpacked<SubtaskResult>(i)),
    agentItems.flatMap((a) => unpacked<{ [AGENT_RESULTS]?: SubtaskResult[] }>(a)[AGENT_RESULTS] ?? []),
  );
}

/** An agent item's record, without the results it carries. */
export function agentOf(item: Record<string, unknown>): AgentRecord {
  const { [AGENT_RESULTS]: _results, ...agent } = unpacked<Record<string, unknown>>(item);
  return agent as unknown as AgentRecord;
}

/**
 * Each subtask's latest result, ordered by subtask id (as the `RESULT#` items sort), from the
 * result items and the results the agent items carry. Latest: the highest stage; within a stage an
 * agent's item wins over a result item, as it is the last write of the attempt that stored either
 * (a sub-agent stores its record after its results, so a result item of that stage is older).
 */
export function latestResults(
  items: readonly SubtaskResult[],
  carried: readonly SubtaskResult[],
): SubtaskResult[] {
  const latest = new Map<string, SubtaskResult>();
  for (const r of items) latest.set(r.subtaskId, r);
  for (const r of carried) {
    const seen = latest.get(r.subtaskId);
    if (!seen || (r.stage ?? 0) >= (seen.stage ?? 0)) latest.set(r.subtaskId, r);
  }
  // The ids are the map's keys, so no two are equal.
  return [...latest.values()].sort((a, b) => (a.subtaskId < b.subtaskId ? -1 : 1));
}

/**
 * Reads of one key asked for in the same turn share one request: a read that started at that
 * moment, so none gets an answer older than its question. The next turn reads again.
 *
 * @example
 * const agents = new SameTurnReads((pk) => queryByPrefix(client, table, pk, 'AGENT#'));
 * const [a, b] = await Promise.all([agents.get(pk), agents.get(pk)]); // one Query
 */
export class SameTurnReads<T> {
  private readonly reading = new Map<string, Promise<T>>();

  constructor(private readonly read: (key: string) => Promise<T>) {}

  get(key: string): Promise<T> {
    let reading = this.reading.get(key);
    if (!reading) {
      reading = this.read(key);
      this.reading.set(key, reading);
      queueMicrotask(() => this.reading.delete(key));
    }
    return reading;
  }
}
