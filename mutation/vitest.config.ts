import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against each mutant: the unit tests of the domain and the use cases and
 * the DynamoDB adapters' tests on dynalite, not the CLI, bundle or end-to-end suites (they add
 * minutes per mutant and kill nothing these do not). `PARL_MUTATION_TESTS` narrows it further
 * (a comma-separated list of globs), which `npm run mutation` sets per target.
 */
const include = process.env.PARL_MUTATION_TESTS?.split(',').filter(Boolean) ?? ['test/unit/**/*.test.ts'];

export default defineConfig({
  test: {
    include,
    // Set per target by mutation/run.ts (see its `testTimeoutMs`).
    testTimeout: Number(process.env.PARL_MUTATION_TEST_TIMEOUT_MS ?? 60_000),
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    // One process for every test file and every mutant's run, its imports done once: isolated, each
    // file imported the AWS SDK and the adapters again (80 s of imports in a 240 s run of the
    // dynamo target's tests on a loaded machine, 10 s without). Mutants switch at run time
    // (Stryker's global), and module-level code is not mutated (ignoreStatic), so a module
    // imported once serves every mutant.
    isolate: false,
  },
});
