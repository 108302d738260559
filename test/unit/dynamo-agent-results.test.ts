import { describe, expect, it } from 'vitest';
import {
  AGENT_RESULTS,
  agentOf,
  carriedByAgent,
  finishedAgentItems,
  latestResults,
  MAX_AGENT_RESULT_BYTES,
  resultsOf,
  SameTurnReads,
} from '#shared/adapters/dynamo/agent-results';
import { unpacked } from '#shared/adapters/dynamo/items';
import type { AgentRecord, SubtaskResult } from '#shared/ports/job-store';

const REF = { tenantId: 't', jobId: 'j' };
const AGENT: AgentRecord = {
  stage: 1,
  agentId: 'a',
  status: 'SUCCEEDED',
  attempt: 1,
  stepCount: 1,
  subtaskIds: ['s1'],
};
const result = (subtaskId: string, stage: number, answer = 'x'): SubtaskResult => ({
  subtaskId,
  agentId: 'a',
  stage,
  status: 'ANSWERED',
  answer,
});

describe('carriedByAgent', () => {
  it('carries some results up to 64 KB of JSON, none past it, and says no to none', () => {
    const bare = Buffer.byteLength(JSON.stringify([result('s1', 1, '')]));
    const sized = (bytes: number) => [result('s1', 1, 'x'.repeat(bytes - bare))];
    expect(Buffer.byteLength(JSON.stringify(sized(MAX_AGENT_RESULT_BYTES)))).toBe(MAX_AGENT_RESULT_BYTES);
    expect(carriedByAgent(sized(MAX_AGENT_RESULT_BYTES))).toBe(true);
    expect(carriedByAgent(sized(MAX_AGENT_RESULT_BYTES + 1))).toBe(false);
    expect(carriedByAgent([])).toBe(false);
  });
});

describe('finishedAgentItems', () => {
  it('stores a sub-agent without results as its record alone, with no results attribute', () => {
    const items = finishedAgentItems(REF, AGENT, 'sub', []);
    expect(items).toEqual([
      {
        pk: 'TENANT#t#JOB#j',
        sk: expect.stringMatching(/^AGENT#/),
        status: 'SUCCEEDED',
        json: expect.any(String),
      },
    ]);
    expect(unpacked(items[0]!)).toEqual(AGENT);
    expect(agentOf(items[0]!)).toEqual(AGENT);
  });

  it('packs a sub-agent’s results into its record, read back by resultsOf and left out by agentOf', () => {
    const items = finishedAgentItems(REF, AGENT, 'sub', [result('s1', 1)]);
    expect(items).toHaveLength(1);
    expect(Object.keys(items[0]!).sort()).toEqual(['json', 'pk', 'sk', 'status']);
    expect(resultsOf([], items)).toEqual([result('s1', 1)]);
    expect(agentOf(items[0]!)).toEqual(AGENT);
  });

  it('stores the orchestrator’s results as items of their own, and no agent item', () => {
    const items = finishedAgentItems(REF, { ...AGENT, agentId: 'synthesizer' }, 'main', [result('s1', 1)]);
    expect(items).toEqual([{ pk: 'TENANT#t#JOB#j', sk: 'RESULT#s1', json: expect.any(String) }]);
    expect(resultsOf(items, [])).toEqual([result('s1', 1)]);
  });

  it('reads agent and result items stored before packing, attribute by attribute', () => {
    const agent = { pk: 'P', sk: 'AGENT#001#a', ...AGENT, [AGENT_RESULTS]: [result('s1', 1, 'agent')] };
    const item = { pk: 'P', sk: 'RESULT#s2', ...result('s2', 1) };
    expect(agentOf(agent)).toEqual(AGENT);
    expect(resultsOf([item], [agent])).toEqual([result('s1', 1, 'agent'), result('s2', 1)]);
  });
});

describe('latestResults', () => {
  it('orders by subtask id, whichever source a result came from', () => {
    const listed = latestResults([result('s2', 1)], [result('s3', 1), result('s1', 1)]);
    expect(listed.map((r) => r.subtaskId)).toEqual(['s1', 's2', 's3']);
  });

  it('keeps the highest stage; within a stage the agent’s record; no stage counts as 0', () => {
    const item = (id: string, stage: number) => ({ ...result(id, stage, 'item') });
    const carried = (id: string, stage: number) => ({ ...result(id, stage, 'agent') });
    const noStage = { ...result('s4', 0, 'item') } as Partial<SubtaskResult>;
    delete noStage.stage;
    const listed = latestResults(
      [item('s1', 2), item('s2', 1), item('s3', 1), noStage as SubtaskResult],
      [carried('s1', 1), carried('s2', 2), carried('s3', 1), carried('s4', 0)],
    );
    expect(listed.map((r) => [r.subtaskId, r.answer])).toEqual([
      ['s1', 'item'],
      ['s2', 'agent'],
      ['s3', 'agent'],
      ['s4', 'agent'],
    ]);
  });
});

describe('SameTurnReads', () => {
  it('reads a key once for the callers of one turn, and again in the next', async () => {
    const reads: string[] = [];
    const shared = new SameTurnReads((key) => {
      reads.push(key);
      return Promise.resolve(`${key}#${reads.length}`);
    });
    const [a, b, c] = await Promise.all([shared.get('p'), shared.get('p'), shared.get('q')]);
    expect([a, b, c]).toEqual(['p#1', 'p#1', 'q#2']);
    expect(await shared.get('p')).toBe('p#3');
    expect(reads).toEqual(['p', 'q', 'p']);
  });
});
