/**
 * The local data directory (default `.parl/`, git-ignored): dynalite's files, so tenants, jobs and
 * usage survive a restart, and `serve.json`, which makes a running `parl serve` discoverable. CLI
 * commands act on the running server's endpoints when there is one, else open the files directly
 * (two processes cannot open the same files at once).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoDocumentClient } from '#shared/adapters/aws/clients';
import { loadConfig } from '#shared/config';

export const DEFAULT_DATA_DIR = '.parl';

/** What a running `parl serve` writes into the data directory. */
export interface ServeInfo {
  pid: number;
  apiUrl: string;
  dynamodbEndpoint: string;
  sfnEndpoint: string;
  tableName: string;
  region: string;
  dataDir: string;
  startedAt: string;
  /** The batch intake (fauxqs: SQS and S3 on one endpoint), when the server runs one. */
  batch?: ServeBatchInfo;
}

/** Where a running server's batch intake listens: `parl batch submit|status` act on it. */
export interface ServeBatchInfo {
  /** fauxqs: the SQS and S3 endpoint. */
  endpoint: string;
  queueUrl: string;
  deadLetterQueueUrl?: string;
  /** The uploads bucket: objects under incoming/<tenantId>/ become jobs. */
  bucket?: string;
}

/** The data directory: `--data-dir`, else PARL_DATA_DIR, else `.parl` (absolute). */
export function dataDirOf(
  flag: string | undefined,
  env: Record<string, string | undefined> = process.env,
): string {
  return resolve(flag ?? env.PARL_DATA_DIR ?? DEFAULT_DATA_DIR);
}

export const dynamoPathOf = (dataDir: string) => join(dataDir, 'dynamodb');
const serveInfoPath = (dataDir: string) => join(dataDir, 'serve.json');

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The running server of this data directory, or undefined (a stale file of a dead server is ignored). */
export function readServeInfo(dataDir: string): ServeInfo | undefined {
  const path = serveInfoPath(dataDir);
  if (!existsSync(path)) return undefined;
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as ServeInfo;
    return Number.isInteger(info.pid) && alive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes serve.json whole or not at all (a temporary file renamed over it): a reader polling for
 * the server never sees half a file, and so never takes a running server for none.
 */
export function writeServeInfo(info: ServeInfo): void {
  mkdirSync(info.dataDir, { recursive: true });
  const path = serveInfoPath(info.dataDir);
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, `${JSON.stringify(info, null, 2)}\n`);
  renameSync(partial, path);
}

export function removeServeInfo(dataDir: string): void {
  rmSync(serveInfoPath(dataDir), { force: true });
}

/** The data of a data directory, opened for a CLI command. */
export interface LocalData {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** `server`: through the running `parl serve`; `files`: the data directory opened directly. */
  via: 'server' | 'files';
  close(): Promise<void>;
}

/** Opens the data directory's tables: through the running server when there is one, else the files. */
export async function openLocalData(dataDir: string): Promise<LocalData> {
  const running = readServeInfo(dataDir);
  if (running) {
    const config = loadConfig({
      TABLE_NAME: running.tableName,
      AWS_REGION: running.region,
      DYNAMODB_ENDPOINT: running.dynamodbEndpoint,
    });
    return {
      doc: createDynamoDocumentClient(config),
      tableName: running.tableName,
      via: 'server',
      close: () => Promise.resolve(),
    };
  }
  mkdirSync(dataDir, { recursive: true });
  // Loaded only now: `--help` and bad input answer without loading the CDK app.
  const { createTablesFromTemplates, startDynalite } = await import('#local/emulators/dynamo');
  const { LOCAL_REGION } = await import('#local/lambda-context');
  const { synthesizeApp } = await import('#local/synth');
  const dynamo = await startDynalite({ path: dynamoPathOf(dataDir) });
  try {
    const app = synthesizeApp({ bundle: false });
    let names: string[];
    try {
      names = await createTablesFromTemplates(dynamo.endpoint, LOCAL_REGION, Object.values(app.templates));
    } finally {
      app.dispose();
    }
    const tableName = names[0];
    if (!tableName) throw new Error('the CDK app defines no table');
    const config = loadConfig({
      TABLE_NAME: tableName,
      AWS_REGION: LOCAL_REGION,
      DYNAMODB_ENDPOINT: dynamo.endpoint,
    });
    return { doc: createDynamoDocumentClient(config), tableName, via: 'files', close: () => dynamo.close() };
  } catch (error) {
    await dynamo.close();
    throw error;
  }
}
