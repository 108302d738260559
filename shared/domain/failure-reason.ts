/**
 * A failure's reason as a record keeps it: one short line. A Step Functions catch hands over the
 * Lambda's cause (`{"errorType","errorMessage","trace":[…]}`, often a kilobyte with the stack
 * trace); what is stored and shown is the error's name and the first line of its message.
 */

/** The longest reason kept, in characters. */
export const MAX_REASON_CHARS = 300;

/** A caught error as Step Functions hands it over: its name and its cause (a Lambda's JSON, or text). */
export interface CaughtFailure {
  error?: string;
  cause?: string;
}

/** The first line of `text`, at most `max` characters (an ellipsis marks a cut). */
export function firstLine(text: string, max = MAX_REASON_CHARS): string {
  const line = text.trim().split(/\r?\n/, 1)[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * The short reason of a caught failure: `Error: message`, the message taken from a Lambda cause's
 * `errorMessage` (never its `trace`), else the cause's first line.
 *
 * @example
 * shortReason({ error: 'ProviderRejectedError', cause: '{"errorMessage":"400 bad request","trace":["at …"]}' });
 * // 'ProviderRejectedError: 400 bad request'
 */
export function shortReason(failure: CaughtFailure): string {
  const name = failure.error || 'Error';
  const cause = failure.cause ?? '';
  let message = cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed?.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // not JSON: a plain message
  }
  const line = firstLine(message);
  return firstLine(line ? `${name}: ${line}` : name);
}
