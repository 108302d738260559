/**
 * A limiter lease taken ahead by the caller that will make the call: while it still reads what the
 * call needs (the Aggregate's outcomes before the synthesis), the lease's round trips go beside
 * those reads instead of after them.
 */
import { type CallerRole, estimateTokens } from '#shared/domain/provider-limits';
import type { LeaseReserver, ReservedLease } from '#shared/ports/rate-limiter';

/** How soon the lease's ticket must start for it to be taken ahead (else the call asks as usual). */
export const LEASE_AHEAD_WITHIN_MS = 500;

/** A lease on its way: the call `take`s it (once); `unused` gives it back when no call took it. */
export interface LeaseAhead {
  take(): Promise<ReservedLease | undefined>;
  unused(): Promise<void>;
}

/**
 * Starts taking one lease for a call like the one described (its prompt's length so far and its
 * output budget: the limiter corrects its clock for the tokens really used when the call ends).
 * A reservation that fails leaves the call to take its lease as usual.
 *
 * @example
 * const lease = leaseAhead(deps.leases, { role: 'orchestrator', tenantId, promptChars, maxTokens });
 * try { … await llm.chat({ …, reserved: lease.take() }) … } finally { await lease?.unused(); }
 */
export function leaseAhead(
  leases: LeaseReserver,
  call: { role: CallerRole; tenantId: string; promptChars: number; maxTokens: number },
): LeaseAhead {
  const reserving = leases
    .reserve(
      {
        role: call.role,
        tenantId: call.tenantId,
        estimatedTokens: estimateTokens(call.promptChars, call.maxTokens),
      },
      1,
      LEASE_AHEAD_WITHIN_MS,
    )
    .then(
      (taken) => taken[0],
      () => undefined,
    );
  let taken = false;
  return {
    take: () => {
      if (taken) return Promise.resolve(undefined);
      taken = true;
      return reserving;
    },
    unused: async () => {
      if (taken) return;
      taken = true;
      const lease = await reserving;
      if (lease) await leases.unreserve(lease).catch(() => undefined);
    },
  };
}
