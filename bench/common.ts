/** Helpers shared by the bench suites: argument parsing, tables, and the JSON results file. */
import { mkdirSync, writeFileSync } from 'node:fs';

/** The raw `--name value` arguments of a bench run (strings as given on the command line). */
export type BenchArgs = Record<string, string | undefined>;

/** A non-negative numeric argument, or the default; exits with code 2 and a message on bad input. */
export function numberArg(args: BenchArgs, name: string, fallback: number): number {
  const raw = args[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0) {
    console.error(`bench: --${name} must be a non-negative number, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

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
