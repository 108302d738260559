import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { createLogger } from '#shared/adapters/lambda-runtime';
import { createTelemetry, observe, type Telemetry } from '#shared/adapters/telemetry';
import { type SweepOutcome, sweepReservations } from '#shared/use-cases/sweep-reservations';
import { fromEnvironment, type SweeperDeps, sweeperDeps } from '#shared/wiring';

/**
 * The reservation sweeper, run on a schedule (an EventBridge rule in the cloud, `parl serve`
 * locally): releases reservations left without a job and settles those of jobs that ended without
 * settling, once they are older than the grace period (`PARL_RESERVATION_GRACE_SECONDS`). The
 * event carries nothing it needs.
 */
export function createSweeperHandler(
  deps: () => Promise<SweeperDeps>,
  logger: Logger = createLogger(),
  telemetry: Telemetry = createTelemetry(),
) {
  const inner = async (_event: unknown, _context: Context): Promise<SweepOutcome> => {
    const d = await deps();
    const out = await sweepReservations(d, { graceMs: d.config.reservationGraceMs });
    if (out.released > 0 || out.settled > 0) logger.warn('stranded reservations closed', { ...out });
    else logger.info('reservations swept', { ...out });
    return out;
  };
  return middy(inner).use(injectLambdaContext(logger)).use(observe(telemetry));
}

export const handler = createSweeperHandler(fromEnvironment(sweeperDeps));
