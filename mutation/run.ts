/**
 * `npm run mutation [-- domain|use-cases|dynamo ...]`: StrykerJS on one target folder at a time,
 * each with the tests that exercise it (mutation/vitest.config.ts), in incremental mode (a rerun
 * tests only the mutants whose code or tests changed), with one or two test processes so a shared
 * machine keeps its other work. Reports go to bench/results/mutation-<target>.{html,json}; the
 * incremental state to bench/results/mutation-<target>.incremental.json.
 *
 * Not part of `npm test`: a full run takes tens of minutes.
 */
import { Stryker } from '@stryker-mutator/core';

interface Target {
  mutate: string[];
  tests: string[];
}

const TARGETS: Record<string, Target> = {
  domain: {
    mutate: ['shared/domain/**/*.ts'],
    tests: [
      'test/unit/measures*.test.ts',
      'test/unit/request*.test.ts',
      'test/unit/tenant.test.ts',
      'test/unit/limiter-rules.test.ts',
      'test/unit/provider-limits.test.ts',
      'test/unit/bma.test.ts',
      'test/unit/workloads.test.ts',
      'test/unit/process-batch-record.test.ts',
      'test/unit/batch*.test.ts',
      'test/unit/policy.test.ts',
      'test/unit/errors.test.ts',
      'test/unit/telemetry.test.ts',
      'test/unit/domain-*.test.ts',
    ],
  },
  'use-cases': {
    mutate: ['shared/use-cases/**/*.ts'],
    tests: [
      'test/unit/accept-job.test.ts',
      'test/unit/ensure-tenant.test.ts',
      'test/unit/next-stage.test.ts',
      'test/unit/process-batch-record.test.ts',
      'test/unit/policy.test.ts',
      'test/unit/workloads.test.ts',
      'test/unit/use-cases-*.test.ts',
      'test/integration/ledger.test.ts',
      'test/integration/handlers.test.ts',
      'test/integration/multi-stage.test.ts',
      'test/integration/policy.test.ts',
    ],
  },
  dynamo: {
    mutate: ['shared/adapters/dynamo/**/*.ts'],
    tests: [
      'test/integration/ledger*.test.ts',
      'test/integration/job-store.test.ts',
      'test/integration/job-listing.test.ts',
      'test/integration/idempotency-store.test.ts',
      'test/integration/tenant-settings.test.ts',
      'test/integration/rate-limiter.test.ts',
      'test/integration/limiter-properties.test.ts',
      'test/integration/budget.test.ts',
    ],
  },
};

const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = args.filter((a) => !(a in TARGETS));
if (unknown.length > 0) {
  console.error(`unknown target ${unknown.join(', ')}: one of ${Object.keys(TARGETS).join(', ')}`);
  process.exit(2);
}
const concurrency = Number(process.env.PARL_MUTATION_CONCURRENCY ?? 1);

for (const name of args.length > 0 ? args : Object.keys(TARGETS)) {
  const target = TARGETS[name]!;
  process.env.PARL_MUTATION_TESTS = target.tests.join(',');
  const base = `bench/results/mutation-${name}`;
  const stryker = new Stryker({
    mutate: target.mutate,
    testRunner: 'vitest',
    vitest: { configFile: 'mutation/vitest.config.ts' },
    coverageAnalysis: 'perTest',
    concurrency,
    incremental: true,
    incrementalFile: `${base}.incremental.json`,
    reporters: ['html', 'json', 'clear-text', 'progress'],
    htmlReporter: { fileName: `${base}.html` },
    jsonReporter: { fileName: `${base}.json` },
    tempDirName: `.stryker-tmp/${name}`,
    cleanTempDir: 'always',
    timeoutMS: 30_000,
    // The first run of every test with coverage: minutes on a loaded machine.
    dryRunTimeoutMinutes: 60,
    thresholds: { high: 85, low: 70, break: null },
    ignoreStatic: true,
    // TypeScript 7 has no JavaScript API for Stryker's tsconfig rewriting, which this project
    // (no `extends`, no `references`) does not need: point it at no file.
    tsconfigFile: 'mutation/none.json',
  });
  const results = await stryker.runMutationTest();
  const killed = results.filter((r) => r.status === 'Killed' || r.status === 'Timeout').length;
  const valid = results.filter((r) => !['CompileError', 'RuntimeError', 'Ignored'].includes(r.status)).length;
  console.log(`${name}: ${killed}/${valid} killed → ${((100 * killed) / Math.max(1, valid)).toFixed(2)} %`);
}
