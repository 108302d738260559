import { fileURLToPath } from 'node:url';

/** The project's root folder. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

/** The `parl` command's script (package.json `bin`). */
const PARL_BIN = fileURLToPath(new URL('../../bin/parl.mjs', import.meta.url));

/**
 * The command and arguments that start `parl args…` as `npx parl` does once npm has found it: this
 * Node (the project's Node 22) running bin/parl.mjs. Started directly, each run is spared npx's own
 * start, a second or more on a loaded machine, and the suite starts parl about a hundred times.
 * cli.test.ts still runs `npx parl --help`, the README's way, once.
 *
 * @example
 * spawnSync(...parlCommand(['jobs', 'list']), { cwd: root, encoding: 'utf8' });
 */
export function parlCommand(args: readonly string[]): [string, string[]] {
  return [process.execPath, [PARL_BIN, ...args]];
}
