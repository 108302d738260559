import { Logger } from '@aws-lambda-powertools/logger';

/** The service's logger; the local runtime passes its own (quiet) one. */
export const createLogger = (logLevel?: string): Logger =>
  new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parl-swarm',
    ...(logLevel ? { logLevel: logLevel as 'INFO' } : {}),
  });
