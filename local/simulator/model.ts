/**
 * The "model" of the Moonshot simulator: reads a chat request the way a model would and answers
 * it deterministically. Every choice derives from a hash of (seed, content), never from arrival
 * order, so concurrent requests get the same answers under the same seed.
 */
import { evaluateInstallation, type Installation, type RuleSet } from '#shared/domain/workloads/bma/rules';
import {
  hashHex,
  hashUnit,
  textOf,
  toolCallsOf,
  type WireMessage,
  type WireRequest,
  type WireToolCall,
} from './wire';

/** What the simulated model decided to answer, before `max_tokens` is applied. */
export interface ModelReply {
  content: string | null;
  toolCalls: WireToolCall[];
  finishReason: 'stop' | 'tool_calls';
}

/** The knobs of the simulated model. */
export interface ModelSettings {
  seed: number;
  /** Share of BMA verdicts the model gets wrong, 0..1 (deterministic per seed and installation). */
  verdictErrorRate: number;
}

/** The four kinds of request the agents send (see `#shared/domain/prompts` and the workloads' prompts). */
export type RequestKind = 'bma' | 'synthesizer' | 'planner' | 'generic';

/** The first line of the synthesizer's system prompt. */
const SYNTHESIZER_OPENING = 'You are the orchestrator of an agent swarm. Your sub-agents have finished.';
const INSTALLATION_ID = /BMA-\d{4}/;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const textsOf = (messages: readonly WireMessage[], role: string): string[] =>
  messages.filter((m) => m.role === role).map((m) => textOf(m.content));

/** Tells which agent sent the request, from its tools and system prompt. */
export function classify(request: WireRequest): RequestKind {
  const tools = Array.isArray(request.tools) ? (request.tools as unknown[]) : [];
  if (tools.some((t) => isRecord(t) && isRecord(t.function) && t.function.name === 'get_installation'))
    return 'bma';
  const system = textsOf(request.messages, 'system').join('\n');
  if (system.trimStart().startsWith(SYNTHESIZER_OPENING)) return 'synthesizer';
  const format = isRecord(request.response_format) ? request.response_format.type : undefined;
  if (system.includes('"subtasks"') || format === 'json_object') return 'planner';
  return 'generic';
}

/** Answers one chat request as the simulated model. */
export function answer(request: WireRequest, settings: ModelSettings): ModelReply {
  switch (classify(request)) {
    case 'bma':
      return answerBma(request, settings);
    case 'synthesizer':
      return say(synthesize(request));
    case 'planner':
      return say(plan(request));
    case 'generic':
      return say(answerGeneric(request, settings));
  }
}

const say = (content: string): ModelReply => ({ content, toolCalls: [], finishReason: 'stop' });

// ---------------------------------------------------------------------------------------------
// BMA sub-agent

interface BmaFacts {
  installationId: string | undefined;
  installation: Installation | undefined;
  ruleSet: RuleSet | undefined;
  installationError: string | undefined;
  ruleSetError: string | undefined;
  sawToolResult: boolean;
}

/** The installation id of the latest user message that names one (a repair turn names none). */
function installationIdOf(messages: readonly WireMessage[]): string | undefined {
  for (const text of textsOf(messages, 'user').reverse()) {
    const match = INSTALLATION_ID.exec(text);
    if (match) return match[0];
  }
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Reads the tool results of the conversation: the rule set, the installation, or their errors. */
function readFacts(messages: readonly WireMessage[]): BmaFacts {
  const wanted = installationIdOf(messages);
  const calledTool = new Map<string, string>();
  for (const m of messages) {
    if (m.role === 'assistant') for (const call of toolCallsOf(m)) calledTool.set(call.id, call.name);
  }
  const facts: BmaFacts = {
    installationId: wanted,
    installation: undefined,
    ruleSet: undefined,
    installationError: undefined,
    ruleSetError: undefined,
    sawToolResult: false,
  };
  for (const m of messages) {
    if (m.role !== 'tool') continue;
    facts.sawToolResult = true;
    const value = parseJson(textOf(m.content));
    if (!isRecord(value)) continue;
    const tool = typeof m.tool_call_id === 'string' ? calledTool.get(m.tool_call_id) : undefined;
    if (Array.isArray(value.rules)) {
      facts.ruleSet = value as unknown as RuleSet;
    } else if (Array.isArray(value.detectors)) {
      // Keep the record of the installation asked about when several are in the conversation.
      if (!facts.installation || wanted === undefined || value.id === wanted) {
        facts.installation = value as unknown as Installation;
      }
    } else if (value.error !== undefined) {
      const message = String(value.error);
      if (tool === 'list_rules' || (tool === undefined && /rule/i.test(message)))
        facts.ruleSetError = message;
      else facts.installationError = message;
    }
  }
  return facts;
}

const verdictJson = (installationId: string | null, verdict: string, reasons: string[]): string =>
  JSON.stringify({ installationId, verdict, reasons });

function callTools(request: WireRequest, seed: number, calls: { name: string; args: object }[]): ModelReply {
  const context = JSON.stringify(request.messages);
  return {
    content: '',
    toolCalls: calls.map((c, i) => ({
      id: `call_${hashHex(24, seed, context, i, c.name)}`,
      type: 'function',
      function: { name: c.name, arguments: JSON.stringify(c.args) },
    })),
    finishReason: 'tool_calls',
  };
}

/**
 * The BMA sub-agent's turn: first read the facts with `get_installation` and `list_rules`, then
 * judge the installation against the rule set, wrong with probability `verdictErrorRate`.
 */
function answerBma(request: WireRequest, settings: ModelSettings): ModelReply {
  const facts = readFacts(request.messages);
  const id = facts.installationId ?? facts.installation?.id;
  if (id === undefined) return say(verdictJson(null, 'unknown', ['no installation id in the task']));
  if (!facts.installation && facts.installationError !== undefined) {
    return say(verdictJson(id, 'unknown', ['installation not found']));
  }
  if (!facts.ruleSet && facts.ruleSetError !== undefined) {
    return say(verdictJson(id, 'unknown', ['rule set not available']));
  }
  const missing: { name: string; args: object }[] = [];
  if (!facts.installation) missing.push({ name: 'get_installation', args: { installationId: id } });
  if (!facts.ruleSet) missing.push({ name: 'list_rules', args: {} });
  if (!facts.installation || !facts.ruleSet) return callTools(request, settings.seed, missing);

  const ruleSet = facts.ruleSet;
  let result: ReturnType<typeof evaluateInstallation>;
  try {
    result = evaluateInstallation(facts.installation, ruleSet);
  } catch {
    return say(verdictJson(id, 'unknown', ['installation record is malformed']));
  }
  const titleOf = (ruleId: string): string => ruleSet.rules.find((r) => r.id === ruleId)?.title ?? 'violated';
  let verdict: string = result.verdict;
  let violated = result.violated;
  if (hashUnit(settings.seed, 'verdict-error', id) < settings.verdictErrorRate) {
    // The model slips: a compliant installation gets a plausible but wrong violation, a
    // non-compliant one is waved through.
    if (verdict === 'compliant' && ruleSet.rules.length > 0) {
      const pick = Math.floor(hashUnit(settings.seed, 'wrong-rule', id) * ruleSet.rules.length);
      verdict = 'non_compliant';
      violated = [ruleSet.rules[pick]?.id ?? ruleSet.rules[0]!.id];
    } else {
      verdict = 'compliant';
      violated = [];
    }
  }
  return say(
    verdictJson(
      id,
      verdict,
      violated.map((r) => `${r}: ${titleOf(r)}`),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Planner

const DEFAULT_SUBTASKS = 5;

/**
 * Decomposes the task into min(K, N) parts: K the first count in the task (5 without one), N the
 * prompt's "at most N subtasks".
 */
function plan(request: WireRequest): string {
  const system = textsOf(request.messages, 'system').join('\n');
  const limit = Number(/at most (\d+) subtasks/i.exec(system)?.[1] ?? DEFAULT_SUBTASKS);
  const max = Math.max(1, limit || DEFAULT_SUBTASKS);
  const task = (textsOf(request.messages, 'user')[0] ?? '').trim().replace(/\s+/g, ' ') || 'the task';
  // A count of things ("20 companies"), not an operand ("12 + 30") or a year ("in 2024,").
  const k = Number(/\b(\d+)\s+\p{L}/u.exec(task)?.[1] ?? 0);
  const count = Math.min(k > 0 ? k : DEFAULT_SUBTASKS, max);
  const subtasks = Array.from({ length: count }, (_, i) => {
    const part = `Part ${i + 1} of ${count}`;
    if (k <= count) return { prompt: `${part}: ${task}` };
    // More items than subtasks: each part takes a contiguous share of the K items.
    const from = Math.floor((i * k) / count) + 1;
    const to = Math.floor(((i + 1) * k) / count);
    return { prompt: `${part} (items ${from} to ${to} of ${k}): ${task}` };
  });
  return JSON.stringify({ subtasks });
}

// ---------------------------------------------------------------------------------------------
// Synthesizer

const LIST_ITEM = /^\s*(?:[-*•]|\d+[.)])\s+(.*)$/;

/** The result items of the synthesizer's user message: list lines, else the items of a JSON array. */
function resultItems(text: string): string[] {
  const lines = text
    .split('\n')
    .map((l) => LIST_ITEM.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
  if (lines.length > 0) return lines;
  const start = text.indexOf('[');
  const end = text.lastIndexOf(']');
  const parsed = start >= 0 && end > start ? parseJson(text.slice(start, end + 1)) : undefined;
  return Array.isArray(parsed)
    ? parsed.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)))
    : [];
}

/**
 * The tally line the aggregator adds under a long list (`All N results: compliant 470 · non_compliant
 * 530 · no answer 0. Most frequent reasons: R2: … (140×); …`): counts by verdict and the reasons'
 * counts by their codes; undefined without one.
 */
function tallyOf(user: string): { counts: Map<string, number>; reasons: Map<string, number> } | undefined {
  const line = /^All \d+ results: (.+)$/m.exec(user)?.[1];
  if (!line) return undefined;
  const [countsPart = '', reasonsPart = ''] = line.split('. Most frequent reasons: ');
  const counts = new Map<string, number>();
  for (const part of countsPart.replace(/\.$/, '').split(' · ')) {
    const m = /^(.+) (\d+)$/.exec(part);
    if (m) counts.set(m[1]!, Number(m[2]));
  }
  const reasons = new Map<string, number>();
  for (const part of reasonsPart.split('; ')) {
    const m = /^(.*) \((\d+)×\)\.?$/.exec(part);
    if (!m) continue;
    const code = /\b([A-Z]{1,3}\d{1,3}):/.exec(m[1]!)?.[1] ?? m[1]!;
    reasons.set(code, (reasons.get(code) ?? 0) + Number(m[2]));
  }
  return { counts, reasons };
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** A short summary of the sub-agents' results: counts, verdicts, the most frequent reasons. */
function synthesize(request: WireRequest): string {
  const user = textsOf(request.messages, 'user').join('\n');
  const task = /^Task:\s*(.+)$/m
    .exec(user)?.[1]
    ?.trim()
    .replace(/[.。]+$/, '');
  const declared = /Results of (\d+) of (\d+) subtasks/.exec(user);
  const items = resultItems(user);
  const seen = declared ? Number(declared[1]) : items.length;
  // A long list comes with a tally of all its results (the prompt lists only the first ones).
  const tally = tallyOf(user);
  const failed = tally?.counts.get('no answer') ?? items.filter((i) => /\bno answer\b/i.test(i)).length;
  const nonCompliant =
    tally?.counts.get('non_compliant') ?? items.filter((i) => /\bnon[_-]compliant\b/i.test(i)).length;
  const compliant =
    tally?.counts.get('compliant') ?? items.filter((i) => /(?<![_-])\bcompliant\b/i.test(i)).length;
  const reasonCounts = tally?.reasons ?? new Map<string, number>();
  for (const item of tally ? [] : items) {
    for (const m of item.matchAll(/\b([A-Z]{1,3}\d{1,3}):/g))
      reasonCounts.set(m[1]!, (reasonCounts.get(m[1]!) ?? 0) + 1);
  }
  const topReasons = [...reasonCounts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 3);

  const summary: string[] = [];
  const scope = declared ? ` for ${plural(Number(declared[2]), 'subtask')}` : '';
  const about = task ? ` on the task "${task.slice(0, 160)}"` : '';
  summary.push(`Summary: I reviewed ${plural(seen, 'result')} from the sub-agents${scope}${about}.`);
  if (compliant + nonCompliant > 0) {
    const noAnswer = failed > 0 ? `, while ${failed} got no usable answer` : '';
    summary.push(`${compliant} of them are compliant and ${nonCompliant} are non-compliant${noAnswer}.`);
  } else if (tally || items.length > 0) {
    const usable = tally ? seen - failed : items.length - failed;
    summary.push(`${usable} of them carry a usable answer${failed > 0 ? ` and ${failed} failed` : ''}.`);
  } else {
    summary.push(
      'The message did not list the individual results, so only the overall outcome can be reported.',
    );
  }
  const findings: string[] = [];
  if (topReasons.length > 0) {
    findings.push(`The most frequent reasons are ${topReasons.map(([r, n]) => `${r} (${n}×)`).join(', ')}.`);
  }
  const answered = items.filter((i) => !/\bno answer\b/i.test(i));
  findings.push(...answered.slice(0, 3).map((i) => i.slice(0, 120)));
  if (failed > 0) {
    findings.push(`${plural(failed, 'subtask')} should be run again before the result is relied on.`);
  }
  findings.push(
    'The figures above are taken from the sub-agents’ reports as given; the orchestrator did not re-check the underlying facts.',
  );
  return `${summary.join(' ')}\n\nKey findings:\n${findings.map((f) => `- ${f}`).join('\n')}`;
}

// ---------------------------------------------------------------------------------------------
// Generic sub-agent

/**
 * A chain of numbers and operators. `+ * / × ÷` may touch their operands; a binary minus needs a
 * space before it, so ranges and dates (`1-4`, `2026-11-01`) are not read as subtractions.
 */
const EXPRESSION = /-?\d+(?:\.\d+)?(?:(?:\s*[+*/×÷]\s*|\s+-\s*)-?\d+(?:\.\d+)?)+/g;

/** Evaluates a chain of `+ - * /` with the usual precedence; undefined when not finite. */
export function evaluateArithmetic(expression: string): number | undefined {
  const scanner = /\s*(-?\d+(?:\.\d+)?)\s*([-+*/×÷]?)/y;
  const numbers: number[] = [];
  const operators: string[] = [];
  for (let m = scanner.exec(expression); m; m = scanner.exec(expression)) {
    numbers.push(Number(m[1]));
    if (!m[2]) break;
    operators.push(m[2]);
  }
  if (operators.length === 0 || numbers.length !== operators.length + 1) return undefined;
  // Products and quotients first, then a signed sum of the terms.
  const terms: number[] = [numbers[0]!];
  operators.forEach((op, i) => {
    const value = numbers[i + 1]!;
    const last = terms.length - 1;
    if (op === '+') terms.push(value);
    else if (op === '-') terms.push(-value);
    else if (op === '*' || op === '×') terms[last] = terms[last]! * value;
    else terms[last] = terms[last]! / value;
  });
  const result = terms.reduce((sum, t) => sum + t, 0);
  return Number.isFinite(result) ? result : undefined;
}

const formatNumber = (n: number): string => String(Number(n.toFixed(6)));

const GENERIC_ANSWERS = [
  'the most likely answer is the first option considered',
  'the evidence points to a clear yes',
  'the answer is no, on the available information',
  'the best estimate is in the middle of the plausible range',
  'the short answer is that it depends on the stated constraints, which favour the simpler option',
];

/** The answer of a generic sub-agent: the number for arithmetic, else a short sentence. */
function answerGeneric(request: WireRequest, settings: ModelSettings): string {
  const task = (textsOf(request.messages, 'user').at(-1) ?? '').trim().replace(/\s+/g, ' ');
  for (const match of task.matchAll(EXPRESSION)) {
    const value = evaluateArithmetic(match[0]);
    if (value !== undefined) return formatNumber(value);
  }
  const pick = Math.floor(hashUnit(settings.seed, 'generic', task) * GENERIC_ANSWERS.length);
  const subject = task.length > 80 ? `${task.slice(0, 77)}...` : task;
  return `For "${subject}": ${GENERIC_ANSWERS[pick] ?? GENERIC_ANSWERS[0]}.`;
}
