import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildApp } from '../build-app';
import type { CfnTemplate } from './template';

/** The synthesized templates of the CDK app, by stack name. */
export interface SynthesizedApp {
  templates: Record<string, CfnTemplate>;
  workflowStack: string;
}

/**
 * Synthesizes the CDK app in-process, without bundling (the local runtime calls the handlers'
 * TypeScript directly), and returns its templates. The state machine's ASL is read from there.
 */
export function synthesizeApp(): SynthesizedApp {
  const { app, stateful, workflow } = buildApp({ 'aws:cdk:bundling-stacks': [] });
  const assembly = app.synth();
  const templates: Record<string, CfnTemplate> = {};
  for (const stack of [stateful, workflow]) {
    templates[stack.stackName] = assembly.getStackByName(stack.stackName).template as CfnTemplate;
  }
  // CDK writes the assembly to a temporary folder when no outdir is set; only that is removed.
  if (assembly.directory.startsWith(tmpdir())) rmSync(assembly.directory, { recursive: true, force: true });
  return { templates, workflowStack: workflow.stackName };
}
