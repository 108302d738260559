/** Files that go next to a bench result's JSON: its Markdown report and its charts. */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Writes each `extension → content` next to `jsonFile` (same name, other extension) and says where;
 * returns the files' names (without folder), for links from the Markdown.
 */
export function saveBesides(jsonFile: string, files: Record<string, string>): string[] {
  const stem = jsonFile.replace(/\.json$/, '');
  return Object.entries(files).map(([extension, content]) => {
    // 'md' → <stem>.md; 'steps.svg' → <stem>-steps.svg
    const file = extension.includes('.') ? `${stem}-${extension}` : `${stem}.${extension}`;
    writeFileSync(file, content.endsWith('\n') ? content : `${content}\n`);
    console.log(`saved ${file}`);
    return basename(file);
  });
}

/** The name (without folder) the file with `extension` next to `jsonFile` gets. */
export const besideName = (jsonFile: string, extension: string): string =>
  basename(jsonFile).replace(/\.json$/, `.${extension}`);
