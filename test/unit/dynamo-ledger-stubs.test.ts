import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoBudgetLedger } from '#shared/adapters/dynamo/budget-ledger';
import { endRefill } from '#shared/adapters/dynamo/budget-refill';
import { BUDGET_SHARDS, BudgetShards } from '#shared/adapters/dynamo/budget-shards';
import { holdFromTenant } from '#shared/adapters/dynamo/tenant-balance';
import type { JobRef } from '#shared/ports/job-store';
import type { CallStop } from '#shared/ports/ledger';

const TABLE = 'table';
const job: JobRef = { tenantId: 't1', jobId: 'j1' };
const stop: CallStop = { status: 'ABORTED', reason: 'cancelled' };
const conditionFailure = () => new ConditionalCheckFailedException({ message: 'condition', $metadata: {} });

/** A client that answers each request with `answer(command)` (a rejection when it throws). */
const clientAnswering = (answer: (command: unknown) => unknown) =>
  ({ send: async (command: unknown) => answer(command) }) as unknown as DynamoDBDocumentClient;

/** The shards as a read of all of them finds them: every one stopped, none counting a call. */
const allStopped = () => Array.from({ length: BUDGET_SHARDS }, () => ({ stopped: true, inFlight: 0 }));

describe('DynamoBudgetLedger.completeCall: whether a call is the last of a stopped job', () => {
  /** What the call's shard is after the completion, the budget record, and every shard read after. */
  interface Seen {
    shard: Record<string, unknown> | undefined;
    budget: Record<string, unknown> | undefined;
    shards: Record<string, unknown>[];
  }

  const complete = (seen: Seen) =>
    new DynamoBudgetLedger(
      clientAnswering((command) => {
        if (command instanceof UpdateCommand) return { Attributes: seen.shard };
        if (command instanceof GetCommand) return { Item: seen.budget };
        if (command instanceof BatchGetCommand) return { Responses: { [TABLE]: seen.shards } };
        throw new Error('unexpected request');
      }),
      TABLE,
    ).completeCall(job, 0.01, 0.004, 'agent-x');

  it('tells the call that finds every shard stopped and no call in flight that it ends the job', async () => {
    // Prepare / Act
    const last = await complete({
      shard: { stopped: true, inFlight: 0 },
      budget: { stopped: stop },
      shards: allStopped(),
    });
    // Assess
    expect(last).toEqual(stop);
  });

  it.each<[string, Seen]>([
    [
      'its own shard was not stopped when it ended (the stop came after)',
      { shard: { inFlight: 0 }, budget: { stopped: stop }, shards: allStopped() },
    ],
    [
      'its own shard still counted a call when it ended',
      { shard: { stopped: true, inFlight: 1 }, budget: { stopped: stop }, shards: allStopped() },
    ],
    [
      'a shard is not stopped yet',
      {
        shard: { stopped: true, inFlight: 0 },
        budget: { stopped: stop },
        shards: [...allStopped().slice(1), { inFlight: 0 }],
      },
    ],
    [
      'the budget record carries no stop',
      { shard: { stopped: true, inFlight: 0 }, budget: {}, shards: allStopped() },
    ],
    [
      'the budget record is gone',
      { shard: { stopped: true, inFlight: 0 }, budget: undefined, shards: allStopped() },
    ],
  ])('does not tell a call it ends the job when %s', async (_when, seen) => {
    // Prepare / Act
    const last = await complete(seen);
    // Assess
    expect(last).toBeUndefined();
  });
});

describe('DynamoBudgetLedger.authorizeCall: a shard closed while it was funded', () => {
  it('refuses the call as settled when the budget record cannot be read back', async () => {
    // Prepare: the shard is short, the record funds it, the shard refuses the chunk, and the
    // record is gone when read again
    const updates: string[] = [];
    let gets = 0;
    const ledger = new DynamoBudgetLedger(
      clientAnswering((command) => {
        if (command instanceof UpdateCommand) {
          const expression = String(command.input.UpdateExpression);
          updates.push(expression);
          if (expression.startsWith('SET remainingUsd = remainingUsd - :a')) throw conditionFailure();
          if (expression.startsWith('SET remainingUsd = if_not_exists')) throw conditionFailure();
          return {};
        }
        if (command instanceof GetCommand) {
          gets++;
          return gets === 1 ? { Item: { reservedUsd: 0.16, remainingUsd: 0.08 } } : {};
        }
        throw new Error('unexpected request');
      }),
      TABLE,
    );
    // Act
    const call = ledger.authorizeCall(job, 0.01, 'agent-x');
    // Assess: refused, and the chunk went back to the record
    await expect(call).rejects.toMatchObject({
      name: 'BudgetExceededError',
      message: 'the job has already been settled; no further model calls',
    });
    expect(updates.at(-1)).toBe('SET remainingUsd = remainingUsd + :c');
  });
});

describe('endRefill', () => {
  it('leaves a lease that ran out and was taken by another caller as it is', async () => {
    // Prepare
    const client = clientAnswering(() => {
      throw conditionFailure();
    });
    // Act
    const ending = endRefill(client, TABLE, { pk: 'p', sk: 'BUDGET' }, 1);
    // Assess
    await expect(ending).resolves.toBeUndefined();
  });

  it('fails with the storage error when the write fails for another reason', async () => {
    // Prepare
    const client = clientAnswering(() => {
      throw new Error('throttled');
    });
    // Act
    const ending = endRefill(client, TABLE, { pk: 'p', sk: 'BUDGET' }, 1);
    // Assess
    await expect(ending).rejects.toThrow('throttled');
  });
});

describe('BudgetShards.readAll', () => {
  it('asks again for the unprocessed keys and keeps only the shards it was given', async () => {
    // Prepare: the first answer processes nothing (and names no table), the second returns one shard
    const shardItem = { pk: 'p', sk: 'BUDGET#03', remainingUsd: 0.005 };
    const requests: unknown[] = [];
    const client = clientAnswering((command) => {
      if (!(command instanceof BatchGetCommand)) throw new Error('unexpected request');
      requests.push(command.input.RequestItems);
      return requests.length === 1
        ? { Responses: {}, UnprocessedKeys: command.input.RequestItems }
        : { Responses: { [TABLE]: [shardItem] }, UnprocessedKeys: {} };
    });
    // Act
    const shards = await new BudgetShards(client, TABLE).readAll(job);
    // Assess
    expect(shards).toEqual([shardItem]);
    expect(requests).toHaveLength(2);
  });

  it('takes an answer with no Responses at all for no shards', async () => {
    // Prepare: the SDK's output type leaves Responses out when the service sends none
    const client = clientAnswering((command) => {
      if (!(command instanceof BatchGetCommand)) throw new Error('unexpected request');
      return { UnprocessedKeys: {} };
    });
    // Act
    const shards = await new BudgetShards(client, TABLE).readAll(job);
    // Assess
    expect(shards).toEqual([]);
  });
});

describe('holdFromTenant', () => {
  it('fails with the storage error, not a refusal, when the hold fails for a reason other than its condition', async () => {
    // Prepare: the hold is throttled; a read would find an active tenant with money to spare
    const throttled = new ProvisionedThroughputExceededException({ message: 'throttled', $metadata: {} });
    const client = clientAnswering((command) => {
      if (command instanceof UpdateCommand) throw throttled;
      if (command instanceof GetCommand)
        return {
          Item: { tenantId: 't1', status: 'ACTIVE', budgetUsd: 10, availableUsd: 10, reservedUsd: 0 },
        };
      throw new Error('unexpected request');
    });
    // Act
    const hold = holdFromTenant(client, TABLE, 't1', 1, 'this job', {});
    // Assess
    await expect(hold).rejects.toBe(throttled);
  });
});
