import { Logger } from '@aws-lambda-powertools/logger';
import { createDeps, type Deps } from '#shared/adapters/deps';
import { loadConfig } from '#shared/config';

/** The service's logger; the local runtime passes its own (quiet) one. */
export const createLogger = (logLevel?: string): Logger =>
  new Logger({
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parl-swarm',
    ...(logLevel ? { logLevel: logLevel as 'INFO' } : {}),
  });

/**
 * Builds the dependencies from the environment on first use and keeps them for warm invocations.
 * Nothing is read at import time, so importing a handler never fails for a missing variable.
 */
export function depsFromEnvironment(): () => Promise<Deps> {
  let deps: Promise<Deps> | undefined;
  return () => {
    deps ??= createDeps(loadConfig(process.env)).catch((error: unknown) => {
      deps = undefined;
      throw error;
    });
    return deps;
  };
}
