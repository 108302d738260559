import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '#cdk/constructs/handler-function';
import { type SynthesizedApp, synthesizeApp } from '#local/synth';

interface LambdaResource {
  Type: string;
  Properties: { Handler: string; Environment?: { Variables?: Record<string, unknown> } };
}

/** A template value as the deployed function would see it: tokens become plausible strings. */
const resolved = (name: string, value: unknown): string =>
  typeof value === 'string' ? value : `resolved-${name.toLowerCase()}`;

/**
 * Imports a bundle in a fresh Node 22 process, in a folder that has nothing but the bundle and the
 * AWS SDK (which the Lambda runtime provides), with the template's environment: no missing
 * module, no error at import, a `handler` function exported.
 */
function loadInCleanProcess(
  dir: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  const script =
    "const m = await import('./index.mjs'); if (typeof m.handler !== 'function') throw new Error('no handler export'); process.stdout.write('loaded');";
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '--enable-source-maps', '-e', script],
      { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? 1 : 0, out: `${stdout}${stderr}` }),
    );
  });
}

describe('every Lambda bundle of the template', () => {
  let app: SynthesizedApp;
  let root: string;
  const functions: { id: string; dir: string; env: Record<string, string> }[] = [];

  beforeAll(() => {
    app = synthesizeApp({ bundle: true });
    root = mkdtempSync(join(tmpdir(), 'parl-bundle-load-'));
    // The runtime's modules: the AWS SDK v3 only.
    mkdirSync(join(root, 'node_modules'));
    symlinkSync(join(REPO_ROOT, 'node_modules', '@aws-sdk'), join(root, 'node_modules', '@aws-sdk'));
    const workflow = Object.values(app.templates).find((t) =>
      Object.keys(t.Resources ?? {}).some((id) => app.bundles[id]),
    );
    for (const [id, res] of Object.entries((workflow?.Resources ?? {}) as Record<string, LambdaResource>)) {
      const bundle = app.bundles[id];
      if (res.Type !== 'AWS::Lambda::Function' || !bundle) continue;
      const variables = res.Properties.Environment?.Variables ?? {};
      // CDK's own handlers (the dashboard site's deployment, Python; its bucket's auto-delete) are not ours to load.
      if (variables.PARL_FUNCTION === undefined) continue;
      const dir = join(root, id);
      cpSync(bundle, dir, { recursive: true });
      const env = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, resolved(k, v)]));
      functions.push({ id, dir, env: { ...env, AWS_REGION: 'us-east-1', AWS_LAMBDA_FUNCTION_NAME: id } });
    }
  }, 600_000);

  afterAll(() => {
    app?.dispose();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('finds the bundles of the eight functions', () => {
    expect(functions.map((f) => f.env.PARL_FUNCTION).sort()).toEqual(
      ['aggregate', 'api', 'authorizer', 'batch', 'execution-ended', 'plan', 'subagent', 'sweeper'].sort(),
    );
  });

  it('loads each bundle in a clean Node 22 process with its template environment', async () => {
    expect(process.versions.node.split('.')[0]).toBe('22');
    for (const fn of functions) {
      const { code, out } = await loadInCleanProcess(fn.dir, fn.env);
      expect({ fn: fn.env.PARL_FUNCTION, code, out }).toEqual({
        fn: fn.env.PARL_FUNCTION,
        code: 0,
        out: 'loaded',
      });
    }
  }, 600_000);
});
