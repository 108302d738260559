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
  },
});
