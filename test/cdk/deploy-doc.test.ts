import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_CONCURRENCY_CONTEXT,
  CONCURRENCY_CONTEXT,
  EXECUTION_TIMEOUT_CONTEXT,
} from '#cdk/cloud-settings';
import { ALARM_EMAIL_CONTEXT } from '#cdk/constructs/alerts';
import { BATCH_SCHEDULE_CONTEXT } from '#cdk/constructs/batch-intake';
import { REPO_ROOT } from '#cdk/constructs/handler-function';
import { PROVIDER_CONTEXT } from '#cdk/workflow-stack';
import { synthesize } from './synth.ts';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
// Synthesized once, while the file is collected (as the other template tests do).
const { workflowTemplate } = synthesize();
const deployDoc = read('docs/deploy.md');

/** The first column's `names` of the markdown table whose header starts with `| <header> |`. */
function tableKeys(markdown: string, header: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${header} |`));
  expect(start, `a table headed "${header}"`).toBeGreaterThanOrEqual(0);
  const keys: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const first = line.split('|')[1] ?? '';
    keys.push(...[...first.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string));
  }
  return keys;
}

/** Every context key the app reads. */
const APP_CONTEXT_KEYS = [
  'moonshotBaseUrl',
  'moonshotModel',
  ...Object.keys(PROVIDER_CONTEXT),
  ALARM_EMAIL_CONTEXT,
  BATCH_SCHEDULE_CONTEXT,
  ...Object.keys(CONCURRENCY_CONTEXT),
  ACCOUNT_CONCURRENCY_CONTEXT,
  EXECUTION_TIMEOUT_CONTEXT,
].sort();

describe('the deploy guide against the app', () => {
  it('names every output the workflow stack has, and only those', () => {
    const outputs = Object.keys(workflowTemplate.toJSON().Outputs as Record<string, unknown>);
    const documented = tableKeys(deployDoc, 'output');
    for (const key of documented) expect(outputs, `output ${key}`).toContain(key);
    // CDK's own outputs (the API's default endpoint) aside, every output is documented.
    for (const key of outputs.filter((k) => !k.startsWith('TenantApi'))) expect(documented).toContain(key);
  });

  it('names every context key the app reads, and only those', () => {
    expect(tableKeys(deployDoc, 'context key').sort()).toEqual(APP_CONTEXT_KEYS);
  });

  it.each(['README.md', 'docs/deploy.md', 'docs/architecture.md'])(
    'links from %s only to files inside the repository',
    (file) => {
      const text = read(file);
      expect(text).not.toContain('../shared');
      const links = [...text.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)]
        .map((m) => m[1] as string)
        .filter((href) => !/^[a-z]+:/.test(href));
      for (const href of links) {
        const target = join(REPO_ROOT, dirname(file), href);
        expect(target.startsWith(REPO_ROOT), href).toBe(true);
        expect(existsSync(target), href).toBe(true);
      }
    },
  );
});
