import { describe, expect, it } from 'vitest';
import { firstLine, MAX_REASON_CHARS, shortReason } from '#shared/domain/failure-reason';

const lambdaCause = JSON.stringify({
  errorType: 'ProviderRejectedError',
  errorMessage: 'the provider refused the request (403): key disabled',
  trace: Array.from({ length: 30 }, (_, i) => `    at frame${i} (/var/task/index.mjs:${i}:1)`),
});

describe('shortReason', () => {
  it.each([
    [
      'a Lambda cause: its message, never its trace',
      { error: 'ProviderRejectedError', cause: lambdaCause },
      'ProviderRejectedError: the provider refused the request (403): key disabled',
    ],
    [
      'a plain cause: its first line',
      { error: 'States.Timeout', cause: 'Task timed out\n    at somewhere' },
      'States.Timeout: Task timed out',
    ],
    ['no cause: the name', { error: 'States.TaskFailed' }, 'States.TaskFailed'],
    ['nothing: a generic name', {}, 'Error'],
  ])('keeps %s', (_case, failure, reason) => {
    expect(shortReason(failure)).toBe(reason);
  });

  it('cuts a long message to the limit, marked', () => {
    const reason = shortReason({ error: 'E', cause: 'x'.repeat(5000) });
    expect(reason).toHaveLength(MAX_REASON_CHARS);
    expect(reason.endsWith('…')).toBe(true);
  });

  it('keeps a short line as it is', () => {
    expect(firstLine('  one line  ')).toBe('one line');
  });
});
