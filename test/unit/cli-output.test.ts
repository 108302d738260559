import { describe, expect, it } from 'vitest';
import { renderTimeline } from '#cli/commands/jobs/timeline';
import { chromeTrace } from '#cli/commands/jobs/trace';
import { progressPrinter } from '#cli/main';
import { closest } from '#cli/suggest';
import { criticalPathMs } from '#shared/domain/measures';
import type { StepRecord } from '#shared/domain/types';

const t = (ms: number) => new Date(Date.UTC(2026, 11, 2, 12, 0, 0) + ms).toISOString();
const step = (
  role: StepRecord['role'],
  agentId: string,
  n: number,
  from: number,
  to: number,
  status: StepRecord['status'] = 'SUCCEEDED',
): StepRecord => ({
  stage: 1,
  role,
  agentId,
  step: n,
  startedAt: t(from),
  endedAt: t(to),
  durationMs: to - from,
  inputTokens: 10,
  outputTokens: 5,
  cachedInputTokens: 0,
  status,
  attempt: 1,
  model: 'kimi-k2.5',
  finishReason: 'stop',
});

// planner 0-500; agent-a 500-2500 (2 steps), agent-b 500-1500 (1 step, then a failed one); synthesizer 2600-3000
const steps = [
  step('main', 'planner', 1, 0, 500),
  step('sub', 'agent-a', 1, 500, 1500),
  step('sub', 'agent-a', 2, 1500, 2500),
  step('sub', 'agent-b', 1, 500, 1000),
  step('sub', 'agent-b', 2, 1000, 1500, 'FAILED'),
  step('main', 'synthesizer', 1, 2600, 3000),
];

describe('the progress printer without a terminal', () => {
  it('prints a line per quarter done and a heartbeat every 5 s while nothing changes', () => {
    // Prepare
    const lines: string[] = [];
    const print = progressPrinter(false, { isTTY: false, write: (s) => lines.push(s) });
    // Act: 13 s with no sub-agent finished, then one of four
    for (let ms = 0; ms <= 13_000; ms += 250)
      print({ jobId: 'j', status: 'RUNNING', agents: 4, finishedAgents: 0, elapsedMs: ms });
    print({ jobId: 'j', status: 'RUNNING', agents: 4, finishedAgents: 1, elapsedMs: 13_250 });
    // Assess
    expect(lines.map((l) => l.match(/· ([\d.]+) s/)?.[1])).toEqual(['0.0', '5.0', '10.0', '13.3']);
  });

  it('prints nothing when quiet', () => {
    const lines: string[] = [];
    progressPrinter(true, { write: (s) => lines.push(s) })({
      jobId: 'j',
      status: 'RUNNING',
      agents: 1,
      finishedAgents: 0,
      elapsedMs: 0,
    });
    expect(lines).toEqual([]);
  });
});

describe('the ASCII timeline', () => {
  it('draws one lane per agent and stars the critical ones: the main lanes and the longest sub-agent', () => {
    // Act
    const text = renderTimeline(steps, { width: 30 });
    // Assess
    const lanes = text.split('\n').filter((l) => /^[* ] 1 /.test(l));
    expect(lanes.map((l) => l.slice(0, 2) + l.split(/\s+/).slice(2, 4).join(' '))).toEqual([
      '* main planner',
      '* sub agent-a',
      '  sub agent-b',
      '* main synthesizer',
    ]);
    expect(lanes[2]).toContain('x');
    expect(lanes[1]).toMatch(/\|#+\|#+/);
    expect(text).toContain(`CriticalPathMs ${criticalPathMs(steps)} ms of 3000 ms`);
  });

  it('keeps the critical lanes when it draws fewer lanes than there are', () => {
    const text = renderTimeline(steps, { maxLanes: 3 });
    expect(text).toMatch(/\+1 sub-agent lanes not shown/);
    expect(text).not.toMatch(/agent-b/);
  });
});

describe('the Chrome trace', () => {
  it('has one complete event per step on one thread per agent, and the job', () => {
    const job = {
      jobId: 'j1',
      status: 'SUCCEEDED',
      acceptedAt: t(-100),
      finishedAt: t(3100),
      request: { mode: 'parl' },
    };
    const doc = chromeTrace(job, steps) as {
      traceEvents: { ph: string; cat?: string; tid: number; dur?: number }[];
    };
    const stepEvents = doc.traceEvents.filter((e) => e.ph === 'X' && e.cat?.startsWith('step'));
    expect(stepEvents).toHaveLength(steps.length);
    expect(new Set(stepEvents.map((e) => e.tid)).size).toBe(4);
    expect(stepEvents.filter((e) => e.cat === 'step,critical')).toHaveLength(4);
    const jobEvent = doc.traceEvents.find((e) => e.cat === 'job') as { dur: number };
    expect(jobEvent.dur).toBe(3_200_000);
  });
});

describe('did you mean', () => {
  it.each([
    ['jbos', ['jobs', 'run', 'serve'], 'jobs'],
    ['max-subagent', ['max-subagents', 'mode'], 'max-subagents'],
    ['tenat', ['tenant', 'task-class'], 'tenant'],
    ['zzzzzz', ['jobs', 'run'], undefined],
  ])('suggests for %s among %j: %s', (name, candidates, expected) => {
    expect(closest(name, candidates)).toBe(expected);
  });
});
