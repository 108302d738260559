/** How the `bma` workload reads and scores a sub-agent's final reply. */
import { extractJsonObject } from '#shared/domain/json-reply';
import type { ParsedAnswer } from '../workload';

/** Parses `{verdict, reasons}` JSON with a known verdict; SyntaxError when the reply is not usable. */
export function parseBmaAnswer(content: string): ParsedAnswer {
  const value = extractJsonObject(content) as { verdict?: unknown; reasons?: unknown };
  if (value.verdict !== 'compliant' && value.verdict !== 'non_compliant') {
    throw new SyntaxError(
      `verdict must be "compliant" or "non_compliant", got ${JSON.stringify(value.verdict)}`,
    );
  }
  const reasons = Array.isArray(value.reasons) ? value.reasons.map(String) : [];
  return { answer: content.trim(), verdict: value.verdict, reasons };
}

/** A verdict is correct when it is the ground truth's verdict (the reasons are not scored). */
export const isBmaAnswerCorrect = (parsed: ParsedAnswer, expected: string): boolean =>
  parsed.verdict === expected;
