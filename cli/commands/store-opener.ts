/**
 * How the `parl` commands that read stored data (policy show, trajectories export) reach the table:
 * the local data directory (`--data-dir`, default `.parl`), through the running `parl serve` when
 * there is one, else its files. Injected, so tests can point the commands at any table.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { openLocalData } from '#cli/data-dir';

/** An open table: a document client, the table's name, and how to let go of it. */
export interface StoreHandle {
  doc: DynamoDBDocumentClient;
  tableName: string;
  close(): Promise<void>;
}

/** Opens the table of a data directory. */
export type StoreOpener = (dataDir: string) => Promise<StoreHandle>;

export const dataDirOpener: StoreOpener = (dataDir) => openLocalData(dataDir);

/** The tenant `parl run` uses (LOCAL_TENANT of local/runtime.ts, which is too heavy to import here). */
export const DEFAULT_CLI_TENANT = 'local';
