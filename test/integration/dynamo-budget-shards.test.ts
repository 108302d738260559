import { ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { BudgetShards } from '#shared/adapters/dynamo/budget-shards';
import { keys } from '#shared/adapters/dynamo/keys';
import type { JobRef } from '#shared/ports/job-store';
import { useDynaliteTable, watchedClient } from './dynalite-table';

const table = useDynaliteTable();

let jobNo = 0;
/** A job no other test writes. */
const freshJob = (): JobRef => ({ tenantId: 't1', jobId: `shards-${++jobNo}` });
const shardKey = (ref: JobRef, k: number) => ({ pk: keys.jobPk(ref), sk: keys.budgetShard(k) });
const readShard = async (ref: JobRef, k: number) =>
  (await table.doc.send(new GetCommand({ TableName: table.tableName, Key: shardKey(ref, k) }))).Item;
const RECLAIM = 'SET remainingUsd = remainingUsd - :r';
const isUpdate = (command: object, expression?: string) =>
  command instanceof UpdateCommand &&
  (expression === undefined || command.input.UpdateExpression === expression);

/** BudgetShards on dynalite: the writes a take, a completion and a reclaim make, and the errors they pass on. */
describe('BudgetShards (dynalite)', () => {
  it('refuses a lone take its shard cannot cover, in one write', async () => {
    // Prepare
    const job = freshJob();
    const { client, sent } = watchedClient(table.doc);
    const shards = new BudgetShards(client, table.tableName);
    await shards.fundAll(job, 0.01);
    // Act
    const taken = await shards.take(job, 3, 0.05);
    // Assess
    expect(taken).toBe(false);
    expect(sent.filter((c) => isUpdate(c))).toHaveLength(1);
    expect(await readShard(job, 3)).toMatchObject({ remainingUsd: 0.01 });
  });

  it.each([
    ['a take', (shards: BudgetShards, job: JobRef) => shards.take(job, 0, 0.01)],
    ['a completion', (shards: BudgetShards, job: JobRef) => shards.complete(job, 0, 0.01)],
  ])('passes on an error of the table other than a failed condition from %s', async (_name, act) => {
    // Prepare: a table that does not exist
    const shards = new BudgetShards(table.doc, 'NoSuchTable');
    // Act
    const result = act(shards, freshJob());
    // Assess
    await expect(result).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('does not take a job whose existing shards are all stopped for stopped while other shards are missing', async () => {
    // Prepare: one shard only, created by a call and stopped
    const job = freshJob();
    const shards = new BudgetShards(table.doc, table.tableName);
    expect(await shards.fundAndTake(job, 4, 0.02, 0.01)).toBe(true);
    await table.doc.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: shardKey(job, 4),
        UpdateExpression: 'SET stopped = :t',
        ExpressionAttributeValues: { ':t': true },
      }),
    );
    // Act
    const calls = await shards.calls(job);
    // Assess
    expect(calls).toEqual({ allStopped: false, inFlight: 1 });
  });

  it('reclaims the unused money of the shards that hold some, writing to no other shard', async () => {
    // Prepare: every shard funded with nothing, then one call funds shard 2 with 0.05 and takes 0.01
    const job = freshJob();
    const { client, sent } = watchedClient(table.doc);
    const shards = new BudgetShards(client, table.tableName);
    await shards.fundAll(job, 0);
    expect(await shards.fundAndTake(job, 2, 0.05, 0.01)).toBe(true);
    // Act
    const reclaimed = await shards.reclaim(job);
    // Assess
    expect(reclaimed).toBe(0.04);
    expect(sent.filter((c) => isUpdate(c, RECLAIM))).toHaveLength(1);
    expect(await readShard(job, 2)).toMatchObject({ remainingUsd: 0, inFlight: 1 });
  });

  it('leaves a shard that moved between its read and its reclaim as it is, and counts nothing from it', async () => {
    // Prepare: shards 2 and 5 hold money; a call takes from shard 2 just before its reclaim is written
    const job = freshJob();
    const direct = new BudgetShards(table.doc, table.tableName);
    await direct.fundAll(job, 0);
    await direct.fundAndTake(job, 2, 0.05, 0.01);
    await direct.fundAndTake(job, 5, 0.03, 0.01);
    const { client } = watchedClient(table.doc, async (command) => {
      if (isUpdate(command, RECLAIM) && (command as UpdateCommand).input.Key?.sk === keys.budgetShard(2))
        expect(await direct.take(job, 2, 0.01)).toBe(true);
    });
    // Act
    const reclaimed = await new BudgetShards(client, table.tableName).reclaim(job);
    // Assess: only shard 5's 0.02 came back; shard 2 keeps what the call left it
    expect(reclaimed).toBe(0.02);
    expect(await readShard(job, 2)).toMatchObject({ remainingUsd: 0.03, inFlight: 2 });
    expect(await readShard(job, 5)).toMatchObject({ remainingUsd: 0 });
  });

  it('passes on any other error of a reclaim’s write', async () => {
    // Prepare: the reclaim's write fails (dynalite has no way to fail it but a missing table, which fails the read first)
    const job = freshJob();
    const direct = new BudgetShards(table.doc, table.tableName);
    await direct.fundAll(job, 0.01);
    const { client } = watchedClient(table.doc, (command) => {
      if (isUpdate(command, RECLAIM)) throw new Error('table gone');
    });
    // Act
    const reclaim = new BudgetShards(client, table.tableName).reclaim(job);
    // Assess
    await expect(reclaim).rejects.toThrow('table gone');
  });
});
