/** How the `bma` workload reads and scores a sub-agent's final reply. */
import { extractJsonObject } from '#shared/domain/json-reply';
import type { ParsedAnswer } from '../workload';

/** Parses `{verdict, reasons}` JSON with a known verdict; SyntaxError when the reply is not usable. */
export function parseBmaAnswer(content: string): ParsedAnswer {
  const value = extractJsonObject(content) as {
    verdict?: unknown;
    reasons?: unknown;
    installationId?: unknown;
  };
  if (value.verdict !== 'compliant' && value.verdict !== 'non_compliant') {
    throw new SyntaxError(
      `verdict must be "compliant" or "non_compliant", got ${JSON.stringify(value.verdict)}`,
    );
  }
  const reasons = Array.isArray(value.reasons) ? value.reasons.map(String) : [];
  return {
    answer: content.trim(),
    verdict: value.verdict,
    reasons,
    ...(typeof value.installationId === 'string' ? { subject: value.installationId } : {}),
  };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A verdict counts only for the installation the sub-agent was given: its `installationId` must be
 * named, as a whole id, in the subtask's prompt. SyntaxError otherwise (the sub-agent is asked again).
 */
export function checkBmaSubject(parsed: ParsedAnswer, subtask: { id: string; prompt: string }): void {
  const id = parsed.subject;
  if (id === undefined || id === '') {
    throw new SyntaxError('the verdict must name its installationId');
  }
  const named = new RegExp(`(^|[^A-Za-z0-9_-])${escapeRegExp(id)}($|[^A-Za-z0-9_-])`).test(subtask.prompt);
  if (!named) {
    // No id in the message: the repair turn must not name another installation to the model.
    throw new SyntaxError(
      `the verdict's installationId is not the installation named in subtask ${subtask.id}'s task`,
    );
  }
}

/** A verdict is correct when it is the ground truth's verdict (the reasons are not scored). */
export const isBmaAnswerCorrect = (parsed: ParsedAnswer, expected: string): boolean =>
  parsed.verdict === expected;
