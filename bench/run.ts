/**
 * `npm run bench -- --suite <name> [suite options]`: runs one benchmark suite on the embedded stack,
 * prints its table and saves it as JSON under bench/results/. Timings are measured here, never asserted
 * in tests.
 *
 * Every `--name value` pair is passed to the suite; each suite documents its own options.
 */
import type { BenchArgs } from './common';
import { batchSuite } from './suites/batch';
import { dashboardSuite } from './suites/dashboard';
import { learningSuite } from './suites/learning';
import { limiterSuite } from './suites/limiter';
import { limitsSuite } from './suites/limits';
import { pipelineSuite } from './suites/pipeline';
import { toggleSuite } from './suites/toggle';

/** The suites by name; each adds one line here and one file under bench/suites/. */
const SUITES: Record<string, (args: BenchArgs) => Promise<void>> = {
  pipeline: pipelineSuite,
  learning: learningSuite,
  toggle: toggleSuite,
  limits: limitsSuite,
  limiter: limiterSuite,
  batch: batchSuite,
  dashboard: dashboardSuite,
};

function parseBenchArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (!flag.startsWith('--')) {
      console.error(`bench: unexpected argument "${flag}" (options are --name value)`);
      process.exit(2);
    }
    const [name, inline] = flag.slice(2).split('=', 2) as [string, string | undefined];
    if (inline !== undefined) args[name] = inline;
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) args[name] = argv[++i];
    else args[name] = 'true';
  }
  return args;
}

const args = parseBenchArgs(process.argv.slice(2));
const name = args.suite ?? 'pipeline';
const suite = SUITES[name];
if (!suite) {
  console.error(`bench: unknown suite "${name}" (available: ${Object.keys(SUITES).join(', ')})`);
  process.exit(2);
}
await suite(args);
