/**
 * The JSON and HTML reports of a target from its incremental file, as Stryker writes them at the
 * end of a run: for a run that was stopped (Stryker saves only the incremental file then), so the
 * report in bench/results/ always shows what was tested. Same schema (mutation-testing-report-schema),
 * same viewer (mutation-testing-elements, a dependency of @stryker-mutator/core).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Writes `<base>.json` and `<base>.html` from the report in `incrementalFile`. */
export function writeReportFiles(incrementalFile: string, base: string): void {
  const report = readFileSync(incrementalFile, 'utf8');
  writeFileSync(`${base}.json`, report);
  const viewer = readFileSync(
    require.resolve('mutation-testing-elements/dist/mutation-test-elements.js'),
    'utf8',
  );
  // A string holding "</script>" must not close the page's script: break every tag apart.
  const embedded = JSON.stringify(JSON.parse(report)).replace(/</g, '<"+"');
  const html = [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"><script>',
    viewer,
    '</script></head><body>',
    '<mutation-test-report-app titlePostfix="Stryker"></mutation-test-report-app>',
    `<script>document.querySelector('mutation-test-report-app').report = ${embedded};</script>`,
    '</body></html>',
  ].join('\n');
  writeFileSync(`${base}.html`, html);
}
