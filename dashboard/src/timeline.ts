/**
 * A job's timeline as the Gantt chart draws it: lanes (one per agent: planner, each sub-agent,
 * synthesizer), one bar per step, the critical path and the stage boundaries. Pure: step records
 * in, chart data out; the chart (echarts) only paints it.
 *
 * The critical path is the one `shared/domain/measures.ts` sums for CriticalPathMs: in every stage
 * the orchestrator's steps and the sub-agent whose steps take the longest in total.
 * Above `maxLanes` sub-agents, sub-agents share lanes (agents in id order, a run of them per lane)
 * so a 1,000-sub-agent job stays readable; the critical sub-agents keep a lane of their own.
 * The chart paints {@link Span}s, not bars: in a shared lane the overlapping calls (and waits) of its
 * agents are one span, so a 1,000-sub-agent job draws a few hundred rectangles instead of thousands
 * (and renders in well under the 2 s the bench checks); a lane of one agent keeps a span per step.
 */
import type { StepRecord } from '#shared/domain/types';

export interface Lane {
  label: string;
  /** Agent ids drawn in this lane (more than one when aggregated). */
  agents: string[];
  critical: boolean;
}

export interface Bar {
  lane: number;
  /** Milliseconds from the timeline's origin: the wait for the limiter/retries, then the call. */
  waitStart: number;
  start: number;
  end: number;
  critical: boolean;
  step: StepRecord;
}

/** What the chart paints: a step's wait or call, or in a shared lane the union of its agents' calls or waits. */
export interface Span {
  lane: number;
  from: number;
  to: number;
  kind: 'wait' | 'call';
  critical: boolean;
  /** Steps whose wait or call the span covers. */
  steps: number;
  /** The step's bar (index into `bars`) when the span is one step's. */
  bar?: number;
}

export interface StageMark {
  stage: number;
  at: number;
}

export interface Timeline {
  origin: number;
  lanes: Lane[];
  bars: Bar[];
  /** The bars as drawn: waits first (painted under), then calls. */
  spans: Span[];
  stages: StageMark[];
  /** Sub-agents on the critical path, one per stage (none for a stage without sub-agents). */
  criticalAgents: string[];
  /** The critical path's total duration (equals metrics.criticalPathMs for a finished job). */
  criticalPathMs: number;
  aggregated: boolean;
}

const ORCHESTRATOR_ORDER = ['planner'];

/** The sub-agent of each stage whose steps take the longest in total (the first on a tie). */
export function criticalSubagents(steps: readonly StepRecord[]): Map<number, string> {
  const byStage = new Map<number, Map<string, number>>();
  for (const s of steps) {
    if (s.role !== 'sub') continue;
    const agents = byStage.get(s.stage) ?? new Map<string, number>();
    agents.set(s.agentId, (agents.get(s.agentId) ?? 0) + s.durationMs);
    byStage.set(s.stage, agents);
  }
  const out = new Map<number, string>();
  for (const [stage, agents] of byStage) {
    let best: [string, number] | undefined;
    for (const [agent, ms] of [...agents].sort(([a], [b]) => a.localeCompare(b))) {
      if (best === undefined || ms > best[1]) best = [agent, ms];
    }
    if (best) out.set(stage, best[0]);
  }
  return out;
}

function laneOrder(steps: readonly StepRecord[]): { main: string[]; subs: string[] } {
  const main = new Set<string>();
  const subs = new Set<string>();
  for (const s of steps) (s.role === 'main' ? main : subs).add(s.agentId);
  const rank = (id: string) => {
    const i = ORCHESTRATOR_ORDER.indexOf(id);
    return i === -1 ? ORCHESTRATOR_ORDER.length : i;
  };
  return {
    main: [...main].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)),
    subs: [...subs].sort((a, b) => a.localeCompare(b)),
  };
}

/**
 * The lanes, at most `maxLanes`: planner first, then the sub-agents (grouped when too many), the
 * other orchestrator steps last.
 */
function buildLanes(steps: readonly StepRecord[], critical: Set<string>, maxLanes: number): Lane[] {
  const { main, subs } = laneOrder(steps);
  const before = main.filter((id) => id === 'planner');
  const after = main.filter((id) => id !== 'planner');
  const lanes: Lane[] = before.map((id) => ({ label: id, agents: [id], critical: true }));
  if (subs.length + main.length <= maxLanes) {
    for (const id of subs) lanes.push({ label: id, agents: [id], critical: critical.has(id) });
  } else {
    const rest = subs.filter((id) => !critical.has(id));
    for (const id of subs.filter((s) => critical.has(s)))
      lanes.push({ label: id, agents: [id], critical: true });
    const per = Math.ceil(rest.length / Math.max(1, maxLanes - main.length - critical.size));
    for (let i = 0; i < rest.length; i += per) {
      const group = rest.slice(i, i + per);
      const label = group.length === 1 ? group[0]! : `${group[0]} … ${group.at(-1)} (${group.length})`;
      lanes.push({ label, agents: group, critical: false });
    }
  }
  for (const id of after) lanes.push({ label: id, agents: [id], critical: true });
  return lanes;
}

/**
 * Builds the timeline of `steps`, times measured from `originIso` (the job's acceptance) or, without
 * it, from the first step's start.
 */
export function buildTimeline(steps: readonly StepRecord[], originIso?: string, maxLanes = 60): Timeline {
  const starts = steps.map((s) => Date.parse(s.startedAt));
  const origin = originIso ? Date.parse(originIso) : starts.length > 0 ? Math.min(...starts) : 0;
  const criticalByStage = criticalSubagents(steps);
  const criticalAgents = [...new Set(criticalByStage.values())];
  const lanes = buildLanes(steps, new Set(criticalAgents), maxLanes);
  const laneOf = new Map<string, number>();
  lanes.forEach((lane, i) => {
    for (const a of lane.agents) laneOf.set(a, i);
  });
  const stageStart = new Map<number, number>();
  let criticalPathMs = 0;
  const bars: Bar[] = steps.map((step) => {
    const end = Date.parse(step.endedAt) - origin;
    const waitStart = Date.parse(step.startedAt) - origin;
    const start = Math.max(waitStart, end - step.durationMs);
    const critical = step.role === 'main' || criticalByStage.get(step.stage) === step.agentId;
    if (critical) criticalPathMs += step.durationMs;
    stageStart.set(step.stage, Math.min(stageStart.get(step.stage) ?? waitStart, waitStart));
    return { lane: laneOf.get(step.agentId) ?? 0, waitStart, start, end, critical, step };
  });
  const stages = [...stageStart].map(([stage, at]) => ({ stage, at })).sort((a, b) => a.stage - b.stage);
  return {
    origin,
    lanes,
    bars,
    spans: buildSpans(lanes, bars),
    stages,
    criticalAgents,
    criticalPathMs,
    aggregated: lanes.some((l) => l.agents.length > 1),
  };
}

/** Merges intervals (sorted by start) that overlap or touch; counts the intervals in each. */
function union(intervals: [number, number][]): { from: number; to: number; count: number }[] {
  const out: { from: number; to: number; count: number }[] = [];
  for (const [from, to] of intervals.sort((a, b) => a[0] - b[0])) {
    const last = out.at(-1);
    if (last && from <= last.to) {
      last.to = Math.max(last.to, to);
      last.count++;
    } else out.push({ from, to, count: 1 });
  }
  return out;
}

/** The spans the chart paints: per step in a lane of one agent, merged per shared lane. */
function buildSpans(lanes: readonly Lane[], bars: readonly Bar[]): Span[] {
  const waits: Span[] = [];
  const calls: Span[] = [];
  const shared = new Map<number, Bar[]>();
  bars.forEach((b, i) => {
    if ((lanes[b.lane]?.agents.length ?? 1) > 1) {
      const list = shared.get(b.lane) ?? [];
      list.push(b);
      shared.set(b.lane, list);
      return;
    }
    const one = { lane: b.lane, critical: b.critical, steps: 1, bar: i };
    if (b.start > b.waitStart) waits.push({ ...one, from: b.waitStart, to: b.start, kind: 'wait' });
    calls.push({ ...one, from: b.start, to: b.end, kind: 'call' });
  });
  for (const [lane, laneBars] of shared) {
    const of = (kind: 'wait' | 'call', list: Span[], intervals: [number, number][]) => {
      for (const u of union(intervals)) {
        list.push({ lane, from: u.from, to: u.to, kind, critical: false, steps: u.count });
      }
    };
    of(
      'wait',
      waits,
      laneBars.filter((b) => b.start > b.waitStart).map((b) => [b.waitStart, b.start]),
    );
    of(
      'call',
      calls,
      laneBars.map((b) => [b.start, b.end]),
    );
  }
  return [...waits, ...calls];
}
