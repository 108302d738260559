#!/usr/bin/env node
// `npx parl …`: runs the TypeScript CLI through tsx (npm puts the project's Node 22 first on PATH).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exit(await main(process.argv.slice(2)));
