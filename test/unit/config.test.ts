import { describe, expect, it } from 'vitest';
import { DEFAULT_MOONSHOT_BASE_URL, loadConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';

describe('loadConfig', () => {
  it('fills the Moonshot defaults', () => {
    const c = loadConfig({ TABLE_NAME: 'Data' });
    expect(c.llm.baseUrl).toBe(DEFAULT_MOONSHOT_BASE_URL);
    expect(c.llm.model).toBe('kimi-k2.5');
    expect(c.maxOutputTokens).toBe(1000);
    expect(c.defaultMaxSubagents).toBe(100);
  });

  it.each([
    [{}, 'TABLE_NAME'],
    [{ TABLE_NAME: 'Data', MOONSHOT_BASE_URL: 'not a url' }, 'MOONSHOT_BASE_URL'],
    [{ TABLE_NAME: 'Data', PARL_SUBAGENT_STEP_BUDGET: '0' }, 'PARL_SUBAGENT_STEP_BUDGET'],
    [{ TABLE_NAME: 'Data', PARL_MAX_SUBAGENTS_CAP: 'ten' }, 'PARL_MAX_SUBAGENTS_CAP'],
    [{ TABLE_NAME: 'Data', PARL_MAX_SUBAGENTS_CAP: '50001' }, 'PARL_MAX_SUBAGENTS_CAP'],
    [{ TABLE_NAME: 'Data', PARL_CORS_ORIGIN: '*' }, 'PARL_CORS_ORIGIN'],
    [{ TABLE_NAME: 'Data', PARL_PROVIDER_SLOTS_PER_ITEM: '26' }, 'PARL_PROVIDER_SLOTS_PER_ITEM'],
    [{ TABLE_NAME: 'Data', PARL_PROVIDER_SLOTS_PER_ITEM: '0' }, 'PARL_PROVIDER_SLOTS_PER_ITEM'],
    [{ TABLE_NAME: 'Data', PARL_CORS_ORIGIN: 'https://d1.cloudfront.net/index.html' }, 'PARL_CORS_ORIGIN'],
    [
      { TABLE_NAME: 'Data', PARL_MAX_SUBAGENTS_CAP: '10', PARL_DEFAULT_MAX_SUBAGENTS: '20' },
      'PARL_DEFAULT_MAX_SUBAGENTS',
    ],
  ])('fails fast on %j naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^${variable}:`));
  });

  it('reads the one CORS origin of the dashboard site, none by default', () => {
    expect(loadConfig({ TABLE_NAME: 'Data' }).corsOrigin).toBeUndefined();
    expect(loadConfig({ TABLE_NAME: 'Data', PARL_CORS_ORIGIN: 'https://d1.cloudfront.net' }).corsOrigin).toBe(
      'https://d1.cloudfront.net',
    );
  });

  it('keeps the default width within a smaller cap', () => {
    expect(loadConfig({ TABLE_NAME: 'Data', PARL_MAX_SUBAGENTS_CAP: '10' }).defaultMaxSubagents).toBe(10);
  });

  it('puts one limiter slot to an item unless told more (a Lambda runs one caller), at most 25', () => {
    expect(loadConfig({ TABLE_NAME: 'Data' }).provider.slotsPerItem).toBe(1);
    expect(loadConfig({ TABLE_NAME: 'Data', PARL_PROVIDER_SLOTS_PER_ITEM: '25' }).provider.slotsPerItem).toBe(
      25,
    );
  });
});
