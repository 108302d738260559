/**
 * `npm run mutation:score [-- domain|use-cases|dynamo ...] [--survivors] [--write]`: the mutation score of each target from
 * its incremental file (bench/results/mutation-<target>.incremental.json), per file and in total,
 * also after an interrupted run: Stryker saves the mutants it has tested so far, and the next
 * `npm run mutation` goes on from there. Score = (killed + timed out) / (killed + timed out +
 * survived + not covered); mutants not yet tested are counted apart, never as killed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeReportFiles } from './report-files';

interface Mutant {
  status: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number } };
}
interface IncrementalReport {
  files: Record<string, { mutants: Mutant[] }>;
}

const TARGETS = ['domain', 'use-cases', 'dynamo'];
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

/** Counts of one file or target. */
function tally(mutants: readonly Mutant[]) {
  const detected = mutants.filter((m) => DETECTED.has(m.status)).length;
  const undetected = mutants.filter((m) => UNDETECTED.has(m.status)).length;
  const untested = mutants.filter((m) => m.status === 'Pending' || m.status === 'Untested').length;
  return { all: mutants.length, detected, undetected, untested };
}

const pct = (t: ReturnType<typeof tally>) =>
  t.detected + t.undetected === 0
    ? '   -  '
    : `${((100 * t.detected) / (t.detected + t.undetected)).toFixed(1).padStart(5)} %`;

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const survivors = process.argv.includes('--survivors');
/** `--write`: also (re)write bench/results/mutation-<target>.{json,html} from the incremental file. */
const write = process.argv.includes('--write');
for (const name of names.length > 0 ? names : TARGETS) {
  const file = `bench/results/mutation-${name}.incremental.json`;
  if (!existsSync(file)) {
    console.log(`${name}: no run yet (${file})`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8')) as IncrementalReport;
  if (write) writeReportFiles(file, `bench/results/mutation-${name}`);
  const all: Mutant[] = [];
  console.log(`${name}:`);
  for (const [path, { mutants }] of Object.entries(report.files).sort()) {
    all.push(...mutants);
    const t = tally(mutants);
    console.log(
      `  ${pct(t)}  ${path.padEnd(48)} ${t.detected} detected, ${t.undetected} not, of ${t.all}${t.untested ? ` (${t.untested} untested)` : ''}`,
    );
    if (survivors)
      for (const m of mutants.filter((x) => UNDETECTED.has(x.status)))
        console.log(
          `        ${m.status} ${path}:${m.location.start.line} ${m.mutatorName} → ${m.replacement ?? ''}`,
        );
  }
  const t = tally(all);
  console.log(
    `  ${pct(t)}  total: ${t.detected} detected, ${t.undetected} not, of ${t.all} mutants recorded`,
  );
}
