/**
 * Builds the dashboard (dashboard/src, TypeScript and ECharts) into static files with esbuild, in
 * memory: `parl serve` builds it at start and serves it at `/`; the bench and the browser tests use
 * the same build. The cloud's copy is built by the CDK construct (cdk/constructs/dashboard-site.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface SiteFile {
  contentType: string;
  body: Uint8Array;
}

const here = new URL('.', import.meta.url).pathname;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};
const typeOf = (name: string) => TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';

/** The page's files by path (`/index.html`, `/main.js`, `/main.css`). */
export async function buildDashboard(): Promise<Map<string, SiteFile>> {
  const out = await build({
    entryPoints: [join(here, 'src/main.ts')],
    bundle: true,
    write: false,
    outdir: '/out',
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    tsconfig: join(here, 'tsconfig.json'),
    logLevel: 'silent',
  });
  const files = new Map<string, SiteFile>();
  for (const f of out.outputFiles) {
    const name = f.path.slice('/out'.length);
    files.set(name, { contentType: typeOf(name), body: f.contents });
  }
  files.set('/index.html', { contentType: typeOf('.html'), body: readFileSync(join(here, 'index.html')) });
  return files;
}

/** The newest A/B report under `dir` (`ab-*.json`, else the default bench's `pipeline-*.json`). */
export function newestBenchReport(dir: string): Uint8Array | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const prefix of ['ab-', 'pipeline-']) {
    const newest = names
      .filter((n) => n.startsWith(prefix) && n.endsWith('.json'))
      .sort()
      .at(-1);
    if (newest) return readFileSync(join(dir, newest));
  }
  return undefined;
}

/**
 * What `parl serve` answers for a path outside the API: the page, its `config.json` (the API on the
 * same origin) and the newest A/B bench report; undefined for anything else.
 */
export async function dashboardSite(benchDir: string): Promise<(path: string) => SiteFile | undefined> {
  const files = await buildDashboard();
  const config = { contentType: typeOf('.json'), body: new TextEncoder().encode('{"apiUrl":""}') };
  return (path) => {
    if (path === '/' || path === '/index.html') return files.get('/index.html');
    if (path === '/config.json') return config;
    if (path === '/bench/ab.json') {
      const report = newestBenchReport(benchDir);
      return report ? { contentType: typeOf('.json'), body: report } : undefined;
    }
    return files.get(path);
  };
}
