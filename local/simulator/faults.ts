/** Fault rules: chat requests that fail on demand, before anything else is looked at. */
import type { ServerResponse } from 'node:http';
import { defaultFaultBody, sendJson } from './http';
import type { WireMessage } from './wire';

/**
 * Makes matching chat requests fail, before anything else is looked at.
 *
 * @example Two rate-limit errors for one installation, then normal answers:
 * `{ match: 'BMA-0007', status: 429, times: 2, retryAfterSeconds: 1 }`
 */
export interface FaultRule {
  /** Substring searched in the JSON serialization of the request's `messages`. */
  match: string;
  /** HTTP status to answer with, e.g. 500, 429, 403. */
  status: number;
  /** How many matching requests fail; every one when unset. */
  times?: number;
  /** The response body; a Moonshot-style `{error: {message, type}}` for the status when unset. */
  body?: unknown;
  /** Sends a `Retry-After` header with this many seconds. */
  retryAfterSeconds?: number;
}

/** The fault rules in force, each with the failures it has left. */
export class FaultRules {
  private faults: { rule: FaultRule; left: number }[] = [];

  constructor(rules: FaultRule[] = []) {
    this.set(rules);
  }

  /** Replaces the rules (and their remaining `times`). */
  set(rules: FaultRule[]): void {
    this.faults = rules.map((rule) => ({ rule, left: rule.times ?? Number.POSITIVE_INFINITY }));
  }

  /** Answers with the first matching rule that has `times` left; true when one did. */
  inject(body: unknown, res: ServerResponse): boolean {
    if (this.faults.length === 0) return false;
    const messages = (body as { messages?: WireMessage[] } | null)?.messages;
    const haystack = JSON.stringify(messages ?? null);
    const hit = this.faults.find((f) => f.left > 0 && haystack.includes(f.rule.match));
    if (!hit) return false;
    hit.left -= 1;
    const { status, retryAfterSeconds } = hit.rule;
    const headers: Record<string, string> =
      retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
    sendJson(res, status, hit.rule.body ?? defaultFaultBody(status, retryAfterSeconds), headers);
    return true;
  }
}
