/**
 * A thinking model for the simulator (off unless `SimulatorOptions.reasoning` is set): before each
 * sub-agent turn it reasons in `reasoning_content`, filling the output budget it was given
 * (`max_tokens` less its visible reply and a small margin), as reasoning models under a thinking
 * budget do. Every subtask needs a certain amount of reasoning (derived from a hash, between
 * `minNeed` and `maxNeed` tokens); a final answer reasoned on less than that is wrong. So the
 * output-token budget is a real trade-off: a smaller one costs fewer tokens, one too small costs quality.
 */
import { classify, type ModelReply } from './model';
import { completionTokens, hashUnit, textOf, type WireRequest } from './wire';

/** How much reasoning the subtasks need, in tokens. */
export interface ReasoningModel {
  minNeed: number;
  maxNeed: number;
  /** Tokens left unused under `max_tokens` (default 8). */
  margin?: number;
}

/** A reply with the reasoning that came before it. */
export interface ThoughtReply extends ModelReply {
  reasoning: string;
  reasoningTokens: number;
}

const FILLER = 'Let me check the facts against each rule in turn and weigh what they imply. ';

/** Text of about `tokens` tokens (4 characters a token, as the simulator counts). */
const textOfTokens = (tokens: number): string =>
  FILLER.repeat(Math.ceil((tokens * 4) / FILLER.length)).slice(0, tokens * 4);

/** The reasoning a sub-agent's subtask needs: a stable function of the seed and the subtask's first user message. */
export function reasoningNeed(request: WireRequest, seed: number, model: ReasoningModel): number {
  const task = textOf(request.messages.find((m) => m.role === 'user')?.content);
  return Math.round(model.minNeed + hashUnit(seed, 'reasoning-need', task) * (model.maxNeed - model.minNeed));
}

/** Adds reasoning to a sub-agent's reply; other replies (planner, synthesizer) come back without. */
export function think(
  reply: ModelReply,
  request: WireRequest,
  seed: number,
  model: ReasoningModel,
): ThoughtReply {
  const kind = classify(request);
  if (kind !== 'bma' && kind !== 'generic') return { ...reply, reasoning: '', reasoningTokens: 0 };
  const budget =
    typeof request.max_tokens === 'number' && request.max_tokens > 0 ? request.max_tokens : undefined;
  const visible = completionTokens(reply.content, reply.toolCalls);
  const need = reasoningNeed(request, seed, model);
  const tokens = Math.max(0, budget === undefined ? need : budget - visible - (model.margin ?? 8));
  const thought = { reasoning: textOfTokens(tokens), reasoningTokens: tokens };
  if (reply.toolCalls.length > 0 || tokens >= need) return { ...reply, ...thought };
  return { ...reply, ...thought, content: rushed(kind, reply.content) };
}

/** The answer of a model that stopped reasoning too early: the opposite verdict, or no answer. */
function rushed(kind: 'bma' | 'generic', content: string | null): string {
  if (kind === 'generic') return 'I could not finish reasoning within my budget.';
  try {
    const value = JSON.parse(content ?? '') as { verdict?: string; reasons?: string[] };
    const verdict = value.verdict === 'compliant' ? 'non_compliant' : 'compliant';
    return JSON.stringify({
      ...value,
      verdict,
      reasons: verdict === 'compliant' ? [] : ['unsure: not fully checked'],
    });
  } catch {
    return content ?? '';
  }
}
