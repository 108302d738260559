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
  /**
   * A test that runs longer fails (mutation/vitest.config.ts): a mutant that makes a test wait
   * forever is killed by its own test in this time, in the same test process, instead of by
   * Stryker's timeout, which restarts the process (a minute of imports on a loaded machine).
   */
  testTimeoutMs: number;
}

const TARGETS: Record<string, Target> = {
  domain: {
    mutate: ['shared/domain/**/*.ts'],
    // Every unit test that imports the domain, directly or through a use case, except the CLI's,
    // the benches' and the dashboard's (they kill nothing the others do not).
    tests: [
      'test/unit/accept-job.test.ts',
      'test/unit/api-cors.test.ts',
      'test/unit/aws-cost.test.ts',
      'test/unit/batch*.test.ts',
      'test/unit/bma.test.ts',
      'test/unit/ensure-tenant.test.ts',
      'test/unit/errors.test.ts',
      'test/unit/failure-reason.test.ts',
      'test/unit/fan-out-*.test.ts',
      'test/unit/limiter-rules.test.ts',
      'test/unit/measures*.test.ts',
      'test/unit/next-stage.test.ts',
      'test/unit/plan-stage.test.ts',
      'test/unit/policy.test.ts',
      'test/unit/process-batch-record.test.ts',
      'test/unit/provider-*.test.ts',
      'test/unit/request*.test.ts',
      'test/unit/simulator.test.ts',
      'test/unit/subagent-deadline.test.ts',
      'test/unit/telemetry.test.ts',
      'test/unit/tenant.test.ts',
      'test/unit/unscored.test.ts',
      'test/unit/wiring.test.ts',
      'test/unit/workloads.test.ts',
      'test/unit/domain-*.test.ts',
    ],
    testTimeoutMs: 15_000,
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
      'test/unit/fan-out-bounds.test.ts',
      'test/unit/plan-stage.test.ts',
      'test/unit/subagent-*.test.ts',
      'test/unit/model-step-overlap.test.ts',
      'test/unit/model-step-ready.test.ts',
      'test/integration/reservations.test.ts',
      'test/integration/execution-ended.test.ts',
      'test/integration/ledger.test.ts',
      'test/integration/handlers.test.ts',
      'test/integration/multi-stage.test.ts',
      'test/integration/policy.test.ts',
      'test/integration/job-progress.test.ts',
      'test/integration/cancel.test.ts',
    ],
    testTimeoutMs: 60_000,
  },
  dynamo: {
    mutate: ['shared/adapters/dynamo/**/*.ts'],
    // The adapters' own tests and the integration tests that drive them, except three files whose
    // concurrency and property tests take 4–25 s each (ledger-shards, budget, job-progress): every
    // mutant they reach would pay for them, and a whole run took many hours. Without them the score
    // is a lower bound (fewer tests kill no more mutants). The dynamo-*.test.ts files test the same
    // code one behaviour at a time, in milliseconds. tenant-limits and limiter-properties stay:
    // they alone reach the tenants' request window and parts of the limiter's pacing.
    tests: [
      'test/unit/batch-gets.test.ts',
      'test/unit/batch-writes.test.ts',
      'test/unit/budget-shards-coalescing.test.ts',
      'test/unit/rate-reads.test.ts',
      'test/integration/ledger.test.ts',
      'test/integration/ledger-properties.test.ts',
      'test/integration/store-invariants.test.ts',
      'test/integration/reservations.test.ts',
      'test/integration/handlers.test.ts',
      'test/integration/policy.test.ts',
      'test/integration/job-listing.test.ts',
      'test/integration/idempotency-store.test.ts',
      'test/integration/tenant-settings.test.ts',
      'test/integration/rate-limiter.test.ts',
      'test/integration/tenant-limits.test.ts',
      'test/integration/limiter-properties.test.ts',
      'test/unit/dynamo-*.test.ts',
      'test/integration/dynamo-*.test.ts',
    ],
    // Its slowest test takes about 5 s on a loaded machine; a mutant that loops for ever fails its
    // first test in 10 s. About one mutant in twenty does, one in five of the limiter's (a slot
    // never seen free): at 20 s, and a process restart when the test's cleanup outlasted Stryker's
    // own timeout, those took most of a run's time.
    testTimeoutMs: 10_000,
  },
};

const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
/**
 * `--mutate=<glob>` (repeatable; Stryker's globs, `file.ts:10-20` for a line range): a quick run of
 * part of a target, to see whether new tests kill its survivors. It writes to .stryker-tmp/, never
 * over the target's reports in bench/results/ (a partial run's report would replace the whole).
 */
const mutateOverride = process.argv
  .slice(2)
  .filter((a) => a.startsWith('--mutate='))
  .map((a) => a.slice('--mutate='.length));
const unknown = args.filter((a) => !(a in TARGETS));
if (unknown.length > 0) {
  console.error(`unknown target ${unknown.join(', ')}: one of ${Object.keys(TARGETS).join(', ')}`);
  process.exit(2);
}
const concurrency = Number(process.env.PARL_MUTATION_CONCURRENCY ?? 1);

for (const name of args.length > 0 ? args : Object.keys(TARGETS)) {
  const target = TARGETS[name]!;
  process.env.PARL_MUTATION_TESTS = target.tests.join(',');
  process.env.PARL_MUTATION_TEST_TIMEOUT_MS = String(target.testTimeoutMs);
  const scratch = mutateOverride.length > 0;
  const base = scratch ? `.stryker-tmp/scratch/mutation-${name}` : `bench/results/mutation-${name}`;
  const stryker = new Stryker({
    mutate: scratch ? mutateOverride : target.mutate,
    testRunner: 'vitest',
    vitest: { configFile: 'mutation/vitest.config.ts' },
    coverageAnalysis: 'perTest',
    concurrency,
    incremental: true,
    incrementalFile: `${base}.incremental.json`,
    reporters: ['html', 'json', 'clear-text', 'progress-append-only'],
    htmlReporter: { fileName: `${base}.html` },
    jsonReporter: { fileName: `${base}.json` },
    tempDirName: `.stryker-tmp/${scratch ? 'scratch-' : ''}${name}`,
    cleanTempDir: 'always',
    // Beyond a mutant's own test time (Stryker adds 1.5 × what its tests took in the first run):
    // past the test timeout above and the cleanup after it (a stopping dynalite waits up to 10 s
    // for the requests of a test that timed out), so a waiting test fails first and only a mutant
    // that blocks the event loop needs a process restart.
    timeoutMS: target.testTimeoutMs + 12_000,
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
