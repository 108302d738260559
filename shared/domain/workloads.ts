import type { WorkloadName } from './types';

/** A sub-agent's parsed answer to one subtask. */
export interface ParsedAnswer {
  answer: string;
  verdict?: string;
  reasons?: string[];
}

const normalize = (s: string): string =>
  s
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/[.。]$/, '');

/** Pulls the first JSON object out of a model's reply (models sometimes wrap it in prose or fences). */
export function extractJsonObject(text: string): unknown {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) throw new SyntaxError('no JSON object in the reply');
  return JSON.parse(text.slice(start, end + 1));
}

/**
 * Parses a final reply. `bma-compliance` wants `{verdict, reasons}` JSON with a known verdict;
 * `generic` takes the text. Throws SyntaxError when the reply is not usable.
 */
export function parseAnswer(workload: WorkloadName, content: string): ParsedAnswer {
  if (workload === 'generic') {
    if (content.trim() === '') throw new SyntaxError('empty reply');
    return { answer: content.trim() };
  }
  const value = extractJsonObject(content) as { verdict?: unknown; reasons?: unknown };
  if (value.verdict !== 'compliant' && value.verdict !== 'non_compliant') {
    throw new SyntaxError(
      `verdict must be "compliant" or "non_compliant", got ${JSON.stringify(value.verdict)}`,
    );
  }
  const reasons = Array.isArray(value.reasons) ? value.reasons.map(String) : [];
  return { answer: content.trim(), verdict: value.verdict, reasons };
}

/** Whether an answer matches the ground truth of its subtask. */
export function isCorrect(workload: WorkloadName, parsed: ParsedAnswer, expected: string): boolean {
  if (workload === 'bma-compliance') return parsed.verdict === expected;
  return normalize(parsed.answer) === normalize(expected);
}
