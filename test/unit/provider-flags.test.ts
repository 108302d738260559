import { describe, expect, it } from 'vitest';
import { parseServeArgs } from '#cli/commands/serve';
import { parseRunArgs } from '#cli/main';
import { modelEndpoint } from '#cli/provider-flags';
import { loadConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import { messageOf } from './usage-message';

describe('parl run provider flags', () => {
  it('passes provider, tier and limits to the functions and to the simulator playing the provider', () => {
    const opts = parseRunArgs(['--tier', 'moonshot-tier0', '--rpm', '6', '--window-ms', '1000'], {});
    expect(opts.provider.env).toEqual({
      PARL_PROVIDER: 'moonshot',
      PARL_PROVIDER_TIER: 'moonshot-tier0',
      PARL_PROVIDER_RPM: '6',
      PARL_PROVIDER_WINDOW_MS: '1000',
    });
    expect(opts.provider.simulatorLimits).toEqual({
      maxConcurrency: 1,
      rpm: 6,
      tpm: 500_000,
      windowMs: 1000,
    });
    expect(opts.provider.baseUrl).toBeUndefined();
  });

  it('points --provider ollama at the local Ollama endpoint', () => {
    const opts = parseRunArgs(['--provider', 'ollama', '--model', 'qwen3:8b'], {});
    expect(opts.provider).toMatchObject({
      name: 'ollama',
      baseUrl: 'http://localhost:11434/v1',
      model: 'qwen3:8b',
    });
  });

  it.each([
    [['--provider', 'gemini'], /^--provider must be one of moonshot, ollama, openai-compatible/],
    [['--provider', 'openai-compatible'], /^--provider openai-compatible needs --base-url/],
    [['--base-url', 'nope'], /^--base-url must be a URL/],
    [['--tier', 'tier9'], /^--tier must be one of moonshot-tier0/],
    [['--rpm', '0'], /^--rpm must be an integer from 1/],
    [['--max-concurrency', 'x'], /^--max-concurrency must be an integer/],
    [['--window-ms', '5'], /^--window-ms must be an integer from 100/],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(messageOf(argv)).toMatch(message);
  });
});

describe('loadConfig provider limits', () => {
  it('takes a tier preset, lets explicit limits override it, and keeps the SDK retries at the client', () => {
    const c = loadConfig({
      TABLE_NAME: 'Data',
      PARL_PROVIDER_TIER: 'moonshot-tier1',
      PARL_PROVIDER_RPM: '150',
    });
    expect(c.provider.policy.limits).toEqual({
      maxConcurrency: 50,
      rpm: 150,
      tpm: 2_000_000,
      windowMs: 60_000,
    });
    expect(c.provider).toMatchObject({ name: 'moonshot', tier: 'moonshot-tier1', limiter: true });
    expect(c.llm.maxRetries).toBe(4);
  });

  it('gives Ollama its endpoint and one request in flight', () => {
    const c = loadConfig({ TABLE_NAME: 'Data', PARL_PROVIDER: 'ollama' });
    expect(c.llm.baseUrl).toBe('http://localhost:11434/v1');
    expect(c.provider.policy.limits.maxConcurrency).toBe(1);
  });

  it('scales the cooldown and the breaker with a compressed window', () => {
    const c = loadConfig({ TABLE_NAME: 'Data', PARL_PROVIDER_WINDOW_MS: '6000' });
    expect(c.provider.policy).toMatchObject({ cooldownMs: 100, breakerOpenMs: 3_000 });
  });

  it.each([
    [{ PARL_PROVIDER: 'gemini' }, 'PARL_PROVIDER'],
    [{ PARL_PROVIDER: 'openai-compatible' }, 'MOONSHOT_BASE_URL'],
    [{ PARL_PROVIDER_TIER: 'gold' }, 'PARL_PROVIDER_TIER'],
    [{ PARL_PROVIDER_RPM: '0' }, 'PARL_PROVIDER_RPM'],
    [{ PARL_PROVIDER_TPM: 'many' }, 'PARL_PROVIDER_TPM'],
    [{ PARL_PROVIDER_MAX_CONCURRENCY: '-1' }, 'PARL_PROVIDER_MAX_CONCURRENCY'],
    [{ PARL_PROVIDER_WINDOW_MS: '0' }, 'PARL_PROVIDER_WINDOW_MS'],
    [{ PARL_PROVIDER_ORCHESTRATOR_SHARE: '0.9' }, 'PARL_PROVIDER_ORCHESTRATOR_SHARE'],
    [{ PARL_PROVIDER_LIMITER: 'maybe' }, 'PARL_PROVIDER_LIMITER'],
    [{ PARL_LLM_BACKOFF_BASE_MS: '0' }, 'PARL_LLM_BACKOFF_BASE_MS'],
  ])('fails fast on %j naming %s', (env, variable) => {
    expect(() => loadConfig({ TABLE_NAME: 'Data', ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ TABLE_NAME: 'Data', ...env })).toThrow(new RegExp(`^${variable}:`));
  });
});

describe('parl serve provider flags and the model endpoint', () => {
  it('takes the same provider flags as parl run', () => {
    const opts = parseServeArgs(['--tier', 'moonshot-tier1', '--max-concurrency', '7']);
    expect(opts.provider.env).toEqual({
      PARL_PROVIDER: 'moonshot',
      PARL_PROVIDER_TIER: 'moonshot-tier1',
      PARL_PROVIDER_MAX_CONCURRENCY: '7',
    });
    expect(opts.provider.simulatorLimits.maxConcurrency).toBe(7);
    expect(() => parseServeArgs(['--provider', 'nope'])).toThrow(/--provider must be one of/);
  });

  it('chooses the simulator with the limits, or a real endpoint named by a flag or the environment', () => {
    const sim = { seed: 2, latencyScale: 0, verdictErrorRate: 0 };
    const simulated = modelEndpoint(parseServeArgs(['--rpm', '60']).provider, sim, {});
    expect(simulated.llm).toBeUndefined();
    expect(simulated.realBaseUrl).toBeUndefined();
    expect(simulated.simulator).toMatchObject({ seed: 2, limits: { rpm: 60 } });
    const ollama = modelEndpoint(
      parseServeArgs(['--provider', 'ollama', '--model', 'qwen3:8b']).provider,
      sim,
      {},
    );
    expect(ollama.llm).toEqual({ baseUrl: 'http://localhost:11434/v1', model: 'qwen3:8b' });
    expect(ollama.env.PARL_PROVIDER).toBe('ollama');
    const keyed = modelEndpoint(parseServeArgs([]).provider, sim, { MOONSHOT_API_KEY: 'sk-1' });
    expect(keyed.llm).toEqual({ apiKey: 'sk-1' });
    expect(keyed.realBaseUrl).toBe('https://api.moonshot.ai/v1');
  });
});
