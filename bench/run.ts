/**
 * `npm run bench -- --suite <name> [suite options]`: runs one benchmark suite on the embedded stack,
 * prints its table and saves it as JSON under bench/results/. Timings are measured here, never asserted
 * in tests.
 *
 * `npm run bench -- --help` lists the suites and their options; an option the suite does not know, or
 * a bad value, is refused with a message and exit code 2 before anything starts.
 */
// First: the X-Ray SDK must not hook every promise of this process (see the module).
import '#local/untraced-process';
import { parseBenchArgs, SuiteUsageError } from './common';
import { SUITES, suitesHelp } from './suites/index';

try {
  const args = parseBenchArgs(process.argv.slice(2), SUITES);
  if (args.help !== undefined) console.log(suitesHelp(args.suite));
  else await SUITES[args.suite ?? 'pipeline']!.run(args);
} catch (error) {
  if (!(error instanceof SuiteUsageError)) throw error;
  console.error(`bench: ${error.message}\n(npm run bench -- --help lists the suites and their options)`);
  process.exit(2);
}
