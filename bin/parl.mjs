#!/usr/bin/env node
// `npx parl …`: runs the TypeScript CLI through tsx. npm puts the project's Node 22 first on PATH;
// started by an older Node (a link on PATH, `npx --prefix` from another folder), it runs itself
// again with the project's own Node 22 (the `node` devDependency) instead of failing on the way.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const NEEDED_MAJOR = 22;

if (Number(process.versions.node.split('.')[0]) < NEEDED_MAJOR) {
  let own;
  try {
    own = createRequire(import.meta.url).resolve('node/bin/node');
  } catch {
    process.stderr.write(
      `parl: needs Node ${NEEDED_MAJOR} or later, and this is ${process.version}; run npm install in the project (it brings Node ${NEEDED_MAJOR})\n`,
    );
    process.exit(1);
  }
  const args = [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const { status, signal, error } = spawnSync(own, args, { stdio: 'inherit' });
  if (error) process.stderr.write(`parl: could not start ${own}: ${error.message}\n`);
  process.exit(status ?? (signal || error ? 1 : 0));
}

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exit(await main(process.argv.slice(2)));
