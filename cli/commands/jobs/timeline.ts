/**
 * `parl jobs show --timeline`: an ASCII Gantt of a job's steps, one lane per agent (planner and
 * synthesizer as `main`, each sub-agent), one bar per step, with the critical path marked: in each
 * stage the orchestrator's steps and the sub-agent whose steps took longest (the lanes whose
 * durations sum to CriticalPathMs, `shared/domain/measures.ts`).
 */
import { criticalPathMs, stageTotals } from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';

export interface TimelineOptions {
  /** Columns of the bars (default 60). */
  width?: number;
  /** Lanes drawn at most; the critical and main lanes always are (default 40). */
  maxLanes?: number;
  /** Time zero (default: the first step's start), e.g. the job's acceptance. */
  origin?: string;
}

interface Lane {
  stage: number;
  role: StepRecord['role'];
  agentId: string;
  steps: StepRecord[];
  critical: boolean;
}

/** The sub-agent of each stage on the critical path (the longest by summed step durations). */
export function criticalAgents(steps: readonly StepRecord[]): Map<number, string> {
  const critical = new Map<number, string>();
  for (const t of stageTotals(steps)) {
    let best: [string, number] | undefined;
    for (const [agentId, ms] of t.subMs) if (!best || ms > best[1]) best = [agentId, ms];
    if (best) critical.set(t.stage, best[0]);
  }
  return critical;
}

function lanesOf(steps: readonly StepRecord[]): Lane[] {
  const critical = criticalAgents(steps);
  const lanes = new Map<string, Lane>();
  for (const s of steps) {
    const key = `${s.stage}/${s.role}/${s.agentId}`;
    let lane = lanes.get(key);
    if (!lane) {
      const onPath = s.role === 'main' || critical.get(s.stage) === s.agentId;
      lane = { stage: s.stage, role: s.role, agentId: s.agentId, steps: [], critical: onPath };
      lanes.set(key, lane);
    }
    lane.steps.push(s);
  }
  const start = (l: Lane) => Math.min(...l.steps.map((s) => Date.parse(s.startedAt)));
  return [...lanes.values()].sort((a, b) => a.stage - b.stage || start(a) - start(b));
}

/** The lanes to draw: all of them, or the critical and main ones and the first others up to `max`. */
function pick(lanes: Lane[], max: number): { shown: Lane[]; hidden: number } {
  if (lanes.length <= max) return { shown: lanes, hidden: 0 };
  const keep = new Set(lanes.filter((l) => l.critical));
  for (const l of lanes) if (keep.size < max) keep.add(l);
  return { shown: lanes.filter((l) => keep.has(l)), hidden: lanes.length - keep.size };
}

function bar(lane: Lane, t0: number, span: number, width: number): string {
  const cells = Array.from({ length: width }, () => ' ');
  const col = (t: number) => Math.min(width - 1, Math.max(0, Math.floor(((t - t0) / span) * width)));
  for (const s of lane.steps) {
    const [from, to] = [col(Date.parse(s.startedAt)), col(Date.parse(s.endedAt))];
    const mark = s.status === 'FAILED' ? 'x' : lane.critical ? '#' : '=';
    for (let c = from; c <= to; c++) cells[c] = mark;
    cells[from] = s.status === 'FAILED' ? 'x' : '|';
  }
  return cells.join('');
}

/** The Gantt as lines of text. */
export function renderTimeline(steps: readonly StepRecord[], opts: TimelineOptions = {}): string {
  if (steps.length === 0) return 'no steps recorded yet';
  const width = opts.width ?? 60;
  const firstStart = Math.min(...steps.map((s) => Date.parse(s.startedAt)));
  const t0 = opts.origin ? Math.min(Date.parse(opts.origin), firstStart) : firstStart;
  const end = Math.max(...steps.map((s) => Date.parse(s.endedAt)));
  const span = Math.max(1, end - t0);
  const { shown, hidden } = pick(lanesOf(steps), opts.maxLanes ?? 40);
  const label = (l: Lane) =>
    `${l.critical ? '*' : ' '} ${l.stage} ${l.role === 'main' ? 'main' : 'sub '} ${l.agentId}`;
  const labelWidth = Math.min(32, Math.max(...shown.map((l) => label(l).length)));
  const pad = (s: string) =>
    s.length > labelWidth ? `${s.slice(0, labelWidth - 1)}…` : s.padEnd(labelWidth);
  const axisEnd = `${end - t0} ms`;
  const lines = [
    `${' '.repeat(labelWidth)} 0 ms${' '.repeat(Math.max(1, width - 4 - axisEnd.length))}${axisEnd}`,
    ...shown.map((l) => {
      const ms = l.steps.reduce((sum, s) => sum + s.durationMs, 0);
      return `${pad(label(l))} ${bar(l, t0, span, width)} ${l.steps.length} steps, ${ms} ms`;
    }),
  ];
  if (hidden > 0) lines.push(`${' '.repeat(labelWidth)} (+${hidden} sub-agent lanes not shown; --lanes N)`);
  lines.push(
    `* critical path: each stage's main steps and its longest sub-agent (# bars, x = failed step) · ` +
      `CriticalPathMs ${criticalPathMs(steps)} ms of ${end - t0} ms`,
  );
  return lines.join('\n');
}
