/** Helpers shared by the bench suites: argument parsing, tables, and the JSON results file. */
import { mkdirSync, writeFileSync } from 'node:fs';

/** The raw `--name value` arguments of a bench run (strings as given on the command line). */
export type BenchArgs = Record<string, string | undefined>;

/** One suite: what it measures, its options (name → help) and how to run it. */
export interface BenchSuite {
  about: string;
  options: Record<string, string>;
  run: (args: BenchArgs) => Promise<void>;
}

/** Options every suite takes. */
export const COMMON_OPTIONS: Record<string, string> = {
  suite: '<name> the suite to run (default pipeline)',
  out: '<dir> where the JSON (and charts) go (default bench/results)',
  help: 'this help (with --suite: that suite only)',
};

/** A bench command line that names an unknown suite or option, or has a stray argument. */
export class SuiteUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SuiteUsageError';
  }
}

/**
 * Parses `--name value`, `--name=value` and bare `--flag` (the value "true") and checks every name
 * against the chosen suite's options; `-h` is `--help`.
 */
export function parseBenchArgs(argv: readonly string[], suites: Record<string, BenchSuite>): BenchArgs {
  const args: BenchArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] === '-h' ? '--help' : argv[i]!;
    if (!flag.startsWith('--'))
      throw new SuiteUsageError(`unexpected argument "${flag}" (options are --name value)`);
    const [name, inline] = flag.slice(2).split('=', 2) as [string, string | undefined];
    if (inline !== undefined) args[name] = inline;
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) args[name] = argv[++i];
    else args[name] = 'true';
  }
  const suiteName = args.suite ?? 'pipeline';
  const suite = suites[suiteName];
  if (!suite)
    throw new SuiteUsageError(`unknown suite "${suiteName}" (available: ${Object.keys(suites).join(', ')})`);
  const known = { ...COMMON_OPTIONS, ...suite.options };
  const unknown = Object.keys(args).filter((name) => !(name in known));
  if (unknown.length > 0) {
    const list = Object.keys(suite.options)
      .map((o) => `--${o}`)
      .join(', ');
    throw new SuiteUsageError(
      `suite "${suiteName}" has no option ${unknown.map((u) => `--${u}`).join(', ')} (its options: ${list || 'none'})`,
    );
  }
  return args;
}

/** A non-negative numeric argument, or the default; a SuiteUsageError (exit code 2) on bad input. */
export function numberArg(args: BenchArgs, name: string, fallback: number): number {
  const raw = args[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new SuiteUsageError(`--${name} must be a non-negative number, got "${raw}"`);
  }
  return n;
}

/**
 * `--name a,b,…` (else `fallback`): integers from `min` to `max`, in the order given; a
 * SuiteUsageError (exit code 2) when one is not, the fallback too (a bound may come from another
 * option: the sweep's widths are at most its subtasks).
 */
export function integerListArg(
  args: BenchArgs,
  name: string,
  fallback: string,
  { min, max }: { min: number; max: number },
): number[] {
  const raw = args[name];
  const list = (raw ?? fallback).split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < min || n > max)) {
    const got = raw === undefined ? `the default "${fallback}"` : `"${raw}"`;
    throw new SuiteUsageError(`--${name} must be integers from ${min} to ${max}, got ${got}`);
  }
  return list;
}

/** The arithmetic mean; NaN for no values. */
export const mean = (xs: number[]): number =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

export const median = (xs: number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** Prints rows as a left-aligned table; the first row is the header. */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

/** Writes `result` to `<out>/<suite>-<timestamp>.json` (default out: bench/results) and says where. */
export function saveResult(args: BenchArgs, suite: string, result: { at: string }): string {
  const out = args.out ?? 'bench/results';
  mkdirSync(out, { recursive: true });
  const file = `${out}/${suite}-${result.at.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`saved ${file}`);
  return file;
}
