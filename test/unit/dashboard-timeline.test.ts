import { describe, expect, it } from 'vitest';
import { buildTimeline } from '#dashboard/src/timeline';
import { criticalPathMs } from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';

const T0 = Date.parse('2026-12-02T10:00:00.000Z');

function step(
  agentId: string,
  role: 'main' | 'sub',
  n: number,
  startMs: number,
  durationMs: number,
  stage = 1,
): StepRecord {
  return {
    stage,
    role,
    agentId,
    step: n,
    startedAt: new Date(T0 + startMs).toISOString(),
    endedAt: new Date(T0 + startMs + durationMs + 50).toISOString(),
    durationMs,
    inputTokens: 10,
    outputTokens: 5,
    cachedInputTokens: 0,
    status: 'SUCCEEDED',
    attempt: 1,
  };
}

/** A planner, `agents` sub-agents of two steps (agent-0007 the slowest), a synthesizer. */
function job(agents: number): StepRecord[] {
  const steps = [step('planner', 'main', 1, 0, 400)];
  for (let i = 1; i <= agents; i++) {
    const id = `agent-${String(i).padStart(4, '0')}`;
    const slow = i === 7 ? 900 : 0;
    steps.push(step(id, 'sub', 1, 500, 300 + (i % 5) * 10), step(id, 'sub', 2, 900, 200 + slow));
  }
  steps.push(step('synthesizer', 'main', 1, 2200, 350));
  return steps;
}

describe('the dashboard timeline', () => {
  it('gives one lane per agent, planner first and synthesizer last, one bar per step', () => {
    const t = buildTimeline(job(10), new Date(T0).toISOString());
    expect(t.lanes.map((l) => l.label)).toEqual([
      'planner',
      ...Array.from({ length: 10 }, (_, i) => `agent-${String(i + 1).padStart(4, '0')}`),
      'synthesizer',
    ]);
    expect(t.bars).toHaveLength(22);
    expect(t.aggregated).toBe(false);
  });

  it('marks as critical the orchestrator and the slowest sub-agent, summing to CriticalPathMs', () => {
    const steps = job(10);
    const t = buildTimeline(steps);
    expect(t.criticalAgents).toEqual(['agent-0007']);
    expect(t.lanes.filter((l) => l.critical).map((l) => l.label)).toEqual([
      'planner',
      'agent-0007',
      'synthesizer',
    ]);
    expect(t.criticalPathMs).toBe(criticalPathMs(steps));
    expect(t.bars.filter((b) => b.critical)).toHaveLength(4);
  });

  it('draws the wait before a call and places bars from the origin', () => {
    const t = buildTimeline([step('agent-0001', 'sub', 1, 1000, 300)], new Date(T0).toISOString());
    expect(t.bars[0]).toMatchObject({ waitStart: 1000, start: 1050, end: 1350 });
  });

  it('groups 1,000 sub-agents into at most 60 lanes, the critical one alone, every step kept', () => {
    const t = buildTimeline(job(1000));
    expect(t.lanes.length).toBeLessThanOrEqual(60);
    expect(t.aggregated).toBe(true);
    expect(t.lanes.find((l) => l.label === 'agent-0007')?.agents).toEqual(['agent-0007']);
    expect(t.lanes.reduce((n, l) => n + l.agents.length, 0)).toBe(1002);
    expect(t.bars).toHaveLength(2002);
  });

  it('paints a lane of one agent step by step: its wait, then its call', () => {
    const t = buildTimeline(job(10), new Date(T0).toISOString());
    expect(t.spans.filter((s) => s.kind === 'call')).toHaveLength(22);
    expect(t.spans.filter((s) => s.kind === 'wait')).toHaveLength(22);
    expect(t.spans.every((s) => s.steps === 1 && s.bar !== undefined)).toBe(true);
    expect(t.spans.filter((s) => s.kind === 'call' && s.critical)).toHaveLength(4);
    // waits are listed first, so they are painted under the calls
    expect(t.spans.findIndex((s) => s.kind === 'call')).toBe(22);
  });

  it('paints a shared lane as the union of its agents’ calls and waits, every step counted once', () => {
    // Prepare: 1,000 sub-agents whose two calls overlap within a lane
    const t = buildTimeline(job(1000));
    const shared = new Set(t.lanes.flatMap((l, i) => (l.agents.length > 1 ? [i] : [])));
    const sharedCalls = t.spans.filter((s) => shared.has(s.lane) && s.kind === 'call');
    // Assess: two call spans per shared lane (steps 1 and 2 do not touch), far fewer than the bars
    expect(sharedCalls).toHaveLength(2 * shared.size);
    expect(t.spans.length).toBeLessThan(t.bars.length / 5);
    const stepsInShared = t.bars.filter((b) => shared.has(b.lane)).length;
    expect(sharedCalls.reduce((n, s) => n + s.steps, 0)).toBe(stepsInShared);
    for (const s of sharedCalls) {
      const covered = t.bars.filter((b) => b.lane === s.lane && b.start >= s.from && b.end <= s.to);
      expect(covered).toHaveLength(s.steps);
      expect(s.critical).toBe(false);
    }
  });

  it('marks a stage boundary at the first start of each stage', () => {
    const steps = [
      ...job(3),
      step('agent-0001', 'sub', 1, 3000, 100, 2),
      step('synthesizer', 'main', 1, 3500, 100, 2),
    ];
    expect(buildTimeline(steps).stages).toEqual([
      { stage: 1, at: 0 },
      { stage: 2, at: 3000 },
    ]);
  });
});
