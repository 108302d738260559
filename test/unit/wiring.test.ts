import { describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { ConfigError } from '#shared/domain/errors';
import { apiDeps, authorizerDeps, batchDeps, cached } from '#shared/wiring';

describe('cached', () => {
  it('builds once and hands the same value to every later call, as a warm Lambda keeps its deps', async () => {
    // Prepare
    let builds = 0;
    const deps = cached(() => ({ build: ++builds }));
    // Act
    const [a, b] = await Promise.all([deps(), deps()]);
    const c = await deps();
    // Assess
    expect(builds).toBe(1);
    expect(a).toBe(b);
    expect(c).toBe(a);
  });

  it('builds again after a build that failed, so a cold start error does not stick', async () => {
    // Prepare
    let builds = 0;
    const deps = cached(() => {
      builds += 1;
      if (builds === 1) throw new ConfigError('TABLE_NAME', 'is required');
      return 'ready';
    });
    // Act / Assess
    await expect(deps()).rejects.toBeInstanceOf(ConfigError);
    await expect(deps()).resolves.toBe('ready');
    expect(builds).toBe(2);
  });
});

describe('the composition root', () => {
  it('names STATE_MACHINE_ARN when the api function has none', () => {
    const build = () => apiDeps(loadConfig({ TABLE_NAME: 'T' }));
    expect(build).toThrow(ConfigError);
    expect(build).toThrow('STATE_MACHINE_ARN');
  });

  it('gives the batch function the default wait for a duplicate delivery, and the one given', () => {
    // Prepare
    const config = loadConfig({
      TABLE_NAME: 'T',
      STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:0:stateMachine:W',
    });
    // Act
    const plain = batchDeps(config);
    const quick = batchDeps(config, { waitForStartMs: 10 });
    // Assess
    expect(plain.startWait).toEqual({ waitForStartMs: 2_000, startGraceMs: 60_000 });
    expect(quick.startWait).toEqual({ waitForStartMs: 10, startGraceMs: 60_000 });
  });

  it('gives the authorizer the tenants and nothing else', () => {
    expect(Object.keys(authorizerDeps(loadConfig({ TABLE_NAME: 'T' })))).toEqual(['tenants']);
  });
});
