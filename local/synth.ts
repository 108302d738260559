import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '#cdk/build-app';
import { REPO_ROOT } from '#cdk/constructs/handler-function';
import type { CfnTemplate } from './template';

/** The synthesized templates of the CDK app, by stack name. */
export interface SynthesizedApp {
  templates: Record<string, CfnTemplate>;
  workflowStack: string;
  /** With bundling: the folder of each function's bundle, by logical id (the assembly is kept until `dispose`). */
  bundles: Record<string, string>;
  /** Removes the temporary cloud assembly, if one was kept. */
  dispose(): void;
}

/**
 * Synthesizes the CDK app in-process and returns its templates; the state machine's ASL is read
 * from there. Without `bundle` nothing is bundled (the local runtime calls the handlers' TypeScript
 * directly); with it, esbuild bundles each function as `cdk synth` does and `bundles` points at them.
 */
export function synthesizeApp(opts: { bundle?: boolean } = {}): SynthesizedApp {
  // Bundles leave the AWS SDK to the runtime (as Lambda does); an assembly inside the project lets
  // their `@aws-sdk/*` imports resolve to the project's node_modules.
  const outdir = opts.bundle ? mkdtempSync(join(REPO_ROOT, 'node_modules', '.parl-bundles-')) : undefined;
  // The template checks run in `cdk synth` and the CDK tests; the local runtime skips them (~2 s).
  const props = { builtinCloudFormationValidation: false, ...(outdir ? { outdir } : {}) };
  const { app, stateful, workflow } = buildApp(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }, props);
  const assembly = app.synth();
  const templates: Record<string, CfnTemplate> = {};
  for (const stack of [stateful, workflow]) {
    templates[stack.stackName] = assembly.getStackByName(stack.stackName).template as CfnTemplate;
  }
  const bundles: Record<string, string> = {};
  if (opts.bundle) {
    for (const [id, res] of Object.entries(templates[workflow.stackName]?.Resources ?? {})) {
      const key = (res.Properties?.Code as { S3Key?: unknown } | undefined)?.S3Key;
      if (res.Type === 'AWS::Lambda::Function' && typeof key === 'string') {
        bundles[id] = join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
      }
    }
  }
  // CDK writes the assembly to a temporary folder when no outdir is set; only such folders are removed.
  const dispose = () => {
    if (assembly.directory.startsWith(tmpdir()) || assembly.directory === outdir) {
      rmSync(assembly.directory, { recursive: true, force: true });
    }
  };
  if (!opts.bundle) dispose();
  return {
    templates,
    workflowStack: workflow.stackName,
    bundles,
    dispose: opts.bundle ? dispose : () => undefined,
  };
}
