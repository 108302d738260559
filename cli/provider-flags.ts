/** The provider flags of `parl run`: which endpoint, which model, which limits. */

import type { SimulatedLimits } from '#local/simulator/server';
import {
  MOONSHOT_TIERS,
  PROVIDER_BASE_URLS,
  PROVIDER_NAMES,
  type ProviderName,
} from '#shared/domain/provider-limits';
import type { ProviderMetrics } from '#shared/domain/types';
import { intFlag, UsageError } from './flags';

/** `parseArgs` options of the provider flags. */
export const PROVIDER_FLAG_OPTIONS = {
  provider: { type: 'string' },
  'base-url': { type: 'string' },
  model: { type: 'string' },
  tier: { type: 'string' },
  'max-concurrency': { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'window-ms': { type: 'string' },
} as const;

/** The HELP lines of the provider flags. */
export const PROVIDER_HELP = `Provider options of run (limits are shared by every sub-agent of every job of the key):
  --provider NAME            moonshot (default) | ollama (http://localhost:11434/v1, 1 in flight)
                             | openai-compatible (needs --base-url)
  --base-url URL             an OpenAI-compatible endpoint (default: the built-in simulator for
                             moonshot without MOONSHOT_API_KEY)
  --model NAME               the model (default MOONSHOT_MODEL or kimi-k2.5)
  --tier NAME                Moonshot tier preset: ${Object.keys(MOONSHOT_TIERS).join(', ')}
                             (tier0: 1 in flight, 3 RPM; tier5: 1,000 in flight, 10,000 RPM)
  --max-concurrency N        requests in flight at most (overrides the tier)
  --rpm N, --tpm N           requests / tokens per window (override the tier)
  --window-ms N              length of the limits' "minute" (default 60000; shorter compresses
                             time for tests and benches, and the report says so)
  On the simulator the same limits are enforced by the simulated provider.`;

/** What the provider flags decide. */
export interface ProviderChoice {
  name: ProviderName;
  /** A real endpoint (undefined: the simulator, or MOONSHOT_BASE_URL from the environment). */
  baseUrl: string | undefined;
  model: string | undefined;
  /** PARL_PROVIDER_* variables for the functions. */
  env: Record<string, string>;
  /** The limits the simulator enforces when it plays the provider (empty: none). */
  simulatorLimits: SimulatedLimits;
}

/** Checks the provider flags; UsageError names the flag. */
export function parseProviderFlags(str: (name: string) => string | undefined): ProviderChoice {
  const name = (str('provider') ?? 'moonshot') as ProviderName;
  if (!PROVIDER_NAMES.includes(name)) {
    throw new UsageError(`--provider must be one of ${PROVIDER_NAMES.join(', ')}, got "${name}"`);
  }
  let baseUrl = str('base-url');
  if (baseUrl !== undefined) {
    try {
      new URL(baseUrl);
    } catch {
      throw new UsageError(`--base-url must be a URL, got "${baseUrl}"`);
    }
  }
  if (name === 'openai-compatible' && baseUrl === undefined)
    throw new UsageError('--provider openai-compatible needs --base-url');
  if (name === 'ollama') baseUrl ??= PROVIDER_BASE_URLS.ollama;
  const tier = str('tier');
  if (tier !== undefined && !MOONSHOT_TIERS[tier]) {
    throw new UsageError(`--tier must be one of ${Object.keys(MOONSHOT_TIERS).join(', ')}, got "${tier}"`);
  }
  const model = str('model');
  if (model !== undefined && model.trim() === '') throw new UsageError('--model must not be empty');
  const maxConcurrency = intFlag('max-concurrency', str('max-concurrency'), 1, 100_000);
  const rpm = intFlag('rpm', str('rpm'), 1, 10_000_000);
  const tpm = intFlag('tpm', str('tpm'), 1, 1_000_000_000);
  const windowMs = intFlag('window-ms', str('window-ms'), 100, 3_600_000);
  const env: Record<string, string> = { PARL_PROVIDER: name };
  if (tier) env.PARL_PROVIDER_TIER = tier;
  if (maxConcurrency !== undefined) env.PARL_PROVIDER_MAX_CONCURRENCY = String(maxConcurrency);
  if (rpm !== undefined) env.PARL_PROVIDER_RPM = String(rpm);
  if (tpm !== undefined) env.PARL_PROVIDER_TPM = String(tpm);
  if (windowMs !== undefined) env.PARL_PROVIDER_WINDOW_MS = String(windowMs);
  const preset = tier ? MOONSHOT_TIERS[tier] : undefined;
  const simulatorLimits: SimulatedLimits = {
    ...((maxConcurrency ?? preset?.maxConcurrency) !== undefined
      ? { maxConcurrency: maxConcurrency ?? preset?.maxConcurrency }
      : {}),
    ...((rpm ?? preset?.rpm) !== undefined ? { rpm: rpm ?? preset?.rpm } : {}),
    ...((tpm ?? preset?.tpm) !== undefined ? { tpm: tpm ?? preset?.tpm } : {}),
    ...(windowMs !== undefined ? { windowMs } : {}),
  };
  return { name, baseUrl, model, env, simulatorLimits };
}

/** One report line: provider, model, limits (saying when the window was compressed) and what calls met. */
export function providerLine(p: ProviderMetrics): string {
  const n = (v: number | null) => (v === null ? '–' : v.toLocaleString('en-US'));
  const window =
    p.limits.windowMs === 60_000 ? 'per minute' : `per ${p.limits.windowMs} ms window (COMPRESSED time)`;
  return `${p.name} ${p.model}${p.tier ? ` (${p.tier})` : ''} · limits ${n(p.limits.maxConcurrency)} in flight, ${n(p.limits.rpm)} RPM, ${n(p.limits.tpm)} TPM ${window}${p.limiter ? '' : ' · limiter OFF'} · ${p.calls} calls, ${p.retries} retries, ${p.rateLimited} × 429`;
}

/** The simulator's own settings when it plays the provider. */
export interface SimulatorChoice {
  seed: number;
  latencyScale: number;
  verdictErrorRate: number;
}

/**
 * The model endpoint options of the local stack (`EmbeddedStack.start`): a real endpoint when the
 * flags or MOONSHOT_API_KEY / MOONSHOT_BASE_URL name one, else the simulator enforcing the chosen
 * limits; the functions get the provider's PARL_PROVIDER_* variables either way.
 */
export function modelEndpoint(
  provider: ProviderChoice,
  simulator: SimulatorChoice,
  env: Record<string, string | undefined> = process.env,
) {
  const baseUrl = provider.baseUrl ?? env.MOONSHOT_BASE_URL;
  const model = provider.model ?? env.MOONSHOT_MODEL;
  const real = !!(env.MOONSHOT_API_KEY || baseUrl);
  return {
    ...(real
      ? {
          llm: {
            ...(baseUrl ? { baseUrl } : {}),
            ...(env.MOONSHOT_API_KEY ? { apiKey: env.MOONSHOT_API_KEY } : {}),
            ...(model ? { model } : {}),
          },
        }
      : {}),
    simulator: { ...simulator, limits: provider.simulatorLimits, ...(model ? { model } : {}) },
    env: provider.env,
    /** What the startup line names: the endpoint, or undefined for the simulator. */
    realBaseUrl: real ? (baseUrl ?? 'https://api.moonshot.ai/v1') : undefined,
  };
}
