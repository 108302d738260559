/**
 * Idempotency keys: what makes a retried POST or a redelivered message the same job. Pure.
 */
import { createHash } from 'node:crypto';
import type { JobRequest } from './types';

/** A stable hash of a validated request (the same JSON for the same request). */
export function requestHash(request: JobRequest): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

/** The job id an idempotency key stands for: the same tenant and key always give the same id. */
export function jobIdForKey(tenantId: string, key: string): string {
  const h = createHash('sha256').update(`${tenantId}\n${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
