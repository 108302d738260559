/** The bounds of a local `parl run`. */
import { loadConfig } from '#shared/config';
import { MAX_SUBAGENTS_PER_JOB } from '#shared/domain/fan-out-limits';

export { MAX_SUBAGENTS_PER_JOB };

/**
 * The cap on `--max-subagents` of a local run: PARL_MAX_SUBAGENTS_CAP when set (checked as the
 * service checks it), else the most sub-agents a job may have: on one's own machine the width is
 * bound by what runs (the provider's free slots), not by a service's cap. The functions and the
 * local tenant of the run take the same cap.
 */
export function localMaxSubagentsCap(env: Record<string, string | undefined>): number {
  if (env.PARL_MAX_SUBAGENTS_CAP === undefined) return MAX_SUBAGENTS_PER_JOB;
  return loadConfig({ ...env, TABLE_NAME: 'unused' }).maxSubagentsCap;
}
