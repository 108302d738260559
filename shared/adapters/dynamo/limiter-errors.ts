/** The errors the DynamoDB limiter throws. */
import { CircuitOpenError, LimiterTimeoutError } from '#shared/domain/errors';
import type { Attempt } from './limiter-outcomes';

/** The open circuit's error, carrying the failure that opened it. */
export function circuitOpen(waitMs: number, openedBy: string | undefined): CircuitOpenError {
  return new CircuitOpenError(
    `the provider kept failing (${openedBy ?? 'cause unknown'}); its circuit is open for ${Math.round(waitMs)} ms more`,
    waitMs,
  );
}

/** The error of a caller the limiter granted nothing within its wait, with what it waited for last. */
export function timeout(a: Attempt, maxWaitMs: number): LimiterTimeoutError {
  return new LimiterTimeoutError(
    `the provider's limiter granted no call within ${maxWaitMs} ms (last reason: ${a.reason})`,
    a.reason,
  );
}
