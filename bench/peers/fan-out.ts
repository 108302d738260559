/**
 * The peers' side of the `peers` suite: the same fan-out as a PARL job of the generic workload (one
 * model call per subtask with the sub-agent's system prompt, then one synthesizer call with the
 * synthesizer's prompt), against the same OpenAI-compatible endpoint, run by
 *
 * - LangGraph.js: a `StateGraph` whose start edge sends one `Send('subagent', …)` per subtask (the
 *   map), the answers joined by a reducer, then an `aggregate` node (the reduce); its concurrency is
 *   bounded by the run's `maxConcurrency`;
 * - a bare `Promise.all` over the subtasks, each call wrapped in a `p-limit` of the same width.
 *
 * Every call is timed, so each run's schedule bound can be computed from its own calls.
 */
import { Annotation, END, Send, START, StateGraph } from '@langchain/langgraph';
import type OpenAI from 'openai';
import pLimit from 'p-limit';
import { synthesizerSystemPrompt } from '#shared/domain/prompts';
import { genericSubagentSystemPrompt } from '#shared/domain/workloads/generic/workload';
import { synthesisPrompt } from '#shared/use-cases/aggregate-job';

export interface PeerSubtask {
  id: string;
  prompt: string;
}

/** One timed model call of a peer run. */
export interface TimedCall {
  role: 'sub' | 'main';
  startedAt: number;
  durationMs: number;
}

export interface PeerRun {
  wallClockMs: number;
  calls: TimedCall[];
  answers: number;
  final: string;
}

interface Answer {
  id: string;
  answer: string;
}

/** The calls the two peers share, with the prompts and budgets our sub-agent and synthesizer use. */
class Calls {
  readonly timed: TimedCall[] = [];
  constructor(
    private readonly client: OpenAI,
    private readonly model: string,
  ) {}

  private async timedCall(role: TimedCall['role'], system: string, user: string, maxTokens: number) {
    const startedAt = Date.now();
    const res = await this.client.chat.completions.create({
      model: this.model,
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: user },
      ],
      max_tokens: maxTokens,
    });
    this.timed.push({ role, startedAt, durationMs: Date.now() - startedAt });
    return res.choices[0]?.message.content ?? '';
  }

  async subagent(subtask: PeerSubtask): Promise<Answer> {
    const answer = await this.timedCall('sub', genericSubagentSystemPrompt, subtask.prompt, 1000);
    return { id: subtask.id, answer: answer.trim() };
  }

  /** Our synthesizer's request, word for word (its answers as our sub-agents store them). */
  synthesize(task: string, answers: readonly Answer[], subtasks: number): Promise<string> {
    const results = answers.map((a) => ({
      subtaskId: a.id,
      agentId: a.id,
      stage: 1,
      status: 'ANSWERED' as const,
      answer: a.answer,
    }));
    return this.timedCall('main', synthesizerSystemPrompt, synthesisPrompt(task, results, subtasks), 1500);
  }
}

const FanOutState = Annotation.Root({
  task: Annotation<string>(),
  subtasks: Annotation<PeerSubtask[]>(),
  subtask: Annotation<PeerSubtask | undefined>(),
  answers: Annotation<Answer[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  final: Annotation<string>(),
});

/** The map-reduce through LangGraph.js: Send per subtask, a reducer, one aggregate node. */
export async function runLangGraph(
  client: OpenAI,
  model: string,
  task: string,
  subtasks: readonly PeerSubtask[],
  concurrency: number,
): Promise<PeerRun> {
  const calls = new Calls(client, model);
  const graph = new StateGraph(FanOutState)
    .addNode('subagent', async (s) => ({ answers: [await calls.subagent(s.subtask!)] }))
    .addNode('aggregate', async (s) => ({
      final: await calls.synthesize(s.task, s.answers, s.subtasks.length),
    }))
    .addConditionalEdges(START, (s) => s.subtasks.map((subtask) => new Send('subagent', { ...s, subtask })), [
      'subagent',
    ])
    .addEdge('subagent', 'aggregate')
    .addEdge('aggregate', END)
    .compile();
  const started = Date.now();
  const out = await graph.invoke(
    { task, subtasks: [...subtasks] },
    { maxConcurrency: concurrency, recursionLimit: 10 },
  );
  return {
    wallClockMs: Date.now() - started,
    calls: calls.timed,
    answers: out.answers.length,
    final: out.final,
  };
}

/** The same fan-out with nothing but Promise.all and p-limit. */
export async function runPromiseAll(
  client: OpenAI,
  model: string,
  task: string,
  subtasks: readonly PeerSubtask[],
  concurrency: number,
): Promise<PeerRun> {
  const calls = new Calls(client, model);
  const limit = pLimit(concurrency);
  const started = Date.now();
  const answers = await Promise.all(subtasks.map((s) => limit(() => calls.subagent(s))));
  const final = await calls.synthesize(task, answers, subtasks.length);
  return { wallClockMs: Date.now() - started, calls: calls.timed, answers: answers.length, final };
}

/**
 * The schedule bound of a fan-out: plan + max(slowest sub-agent, total sub-agent work / slots) +
 * aggregate, from the run's own call durations. No schedule on `slots` slots can finish sooner.
 */
export function scheduleBoundMs(
  parts: { planMs: number; subagentMs: readonly number[]; aggregateMs: number },
  slots: number,
): number {
  const work = parts.subagentMs.reduce((a, b) => a + b, 0);
  const slowest = parts.subagentMs.reduce((a, b) => Math.max(a, b), 0);
  return parts.planMs + Math.max(slowest, work / slots) + parts.aggregateMs;
}
