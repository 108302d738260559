import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keys } from '#shared/adapters/dynamo/keys';
import { DynamoUsageBook } from '#shared/adapters/dynamo/usage-book';
import type { JobRef } from '#shared/ports/job-store';
import type { JobCharge } from '#shared/ports/ledger';
import { useDynaliteTable, watchedClient } from './dynalite-table';

const table = useDynaliteTable();
afterEach(() => {
  vi.restoreAllMocks();
});

const PERIOD = '2026-12';
const HOUR_MS = 3600_000;

let tenantNo = 0;
/** A tenant no other test writes. */
const freshTenant = () => `usage-${++tenantNo}`;

const chargeOf = (figures: Partial<JobCharge> = {}): JobCharge => ({
  period: PERIOD,
  jobs: 1,
  calls: 3,
  inputTokens: 100,
  cachedInputTokens: 40,
  outputTokens: 20,
  costUsd: 0.012,
  awsCostUsd: 0.00012345,
  settledAt: Date.now(),
  ...figures,
});

/** The month's usage of two jobs of {@link chargeOf} with 40 and 2 cached tokens, 0.00012345 and 0.0000001 USD of AWS. */
const twoJobsSummary = (tenantId: string) => ({
  tenantId,
  period: PERIOD,
  jobs: 2,
  calls: 6,
  inputTokens: 200,
  cachedInputTokens: 42,
  outputTokens: 40,
  costUsd: 0.024,
  awsCostUsd: 0.00012355,
});

const readItem = async (key: Record<string, string>) =>
  (await table.doc.send(new GetCommand({ TableName: table.tableName, Key: key }))).Item;
const readCounters = (tenantId: string) =>
  readItem({ pk: keys.tenantPk(tenantId), sk: keys.usageMonth(PERIOD) });
const readRecord = (ref: JobRef) =>
  readItem({ pk: keys.tenantPk(ref.tenantId), sk: keys.usage(PERIOD, ref.jobId) });

const isCountersAdd = (command: object) =>
  command instanceof UpdateCommand && String(command.input.UpdateExpression).startsWith('ADD ');

/** A book whose first write of the counters fails as a throttled or timed-out request would. */
const bookFailingFirstCount = () => {
  let failed = false;
  const { client } = watchedClient(table.doc, (command) => {
    if (isCountersAdd(command) && !failed) {
      failed = true;
      throw new Error('throughput exceeded');
    }
  });
  return new DynamoUsageBook(client, table.tableName);
};

/** DynamoUsageBook on dynalite: each job counted once, with its first figures; the month's summary. */
describe('DynamoUsageBook (dynalite)', () => {
  describe('record', () => {
    it('passes on a failed write of the usage record other than a lost race, counting nothing', async () => {
      // Prepare: the table refuses the record's write
      const ref = { tenantId: freshTenant(), jobId: 'job-1' };
      const { client } = watchedClient(table.doc, (command) => {
        if (command instanceof PutCommand) throw new Error('throughput exceeded');
      });
      // Act
      const recording = new DynamoUsageBook(client, table.tableName).record(ref, chargeOf());
      // Assess
      await expect(recording).rejects.toThrow('throughput exceeded');
      expect(await readCounters(ref.tenantId)).toBeUndefined();
    });

    it('passes on a failed write of the counters other than a lost race, leaving the record uncounted', async () => {
      // Prepare
      const ref = { tenantId: freshTenant(), jobId: 'job-1' };
      // Act
      const recording = bookFailingFirstCount().record(ref, chargeOf());
      // Assess
      await expect(recording).rejects.toThrow('throughput exceeded');
      expect(await readCounters(ref.tenantId)).toBeUndefined();
      expect((await readRecord(ref))?.counted).toBeUndefined();
    });

    it('counts the first figures of a job whose first try stopped before counting, when a retry brings others', async () => {
      // Prepare: the first try writes the record and fails on the counters
      const ref = { tenantId: freshTenant(), jobId: 'job-1' };
      const first = chargeOf({ calls: 3, inputTokens: 100 });
      await expect(bookFailingFirstCount().record(ref, first)).rejects.toThrow('throughput exceeded');
      // Act: the retry settles the job with other figures
      await new DynamoUsageBook(table.doc, table.tableName).record(
        ref,
        chargeOf({ calls: 5, inputTokens: 700, settledAt: (first.settledAt ?? 0) + 1 }),
      );
      // Assess: counted once, with the first try's figures; the record flagged counted
      expect(await readCounters(ref.tenantId)).toMatchObject({ jobs: 1, calls: 3, inputTokens: 100 });
      expect(await readRecord(ref)).toMatchObject({ calls: 3, inputTokens: 100, counted: true });
    });

    it('does not count a counted job again when it is recorded after its marker is gone', async () => {
      // Prepare: a job settled two hours ago, so its marker is trimmed as soon as it is counted
      const ref = { tenantId: freshTenant(), jobId: 'job-1' };
      const book = new DynamoUsageBook(table.doc, table.tableName);
      const charge = chargeOf({ calls: 3, settledAt: Date.now() - 2 * HOUR_MS });
      await book.record(ref, charge);
      expect((await readCounters(ref.tenantId))?.countMarkers).toBeUndefined();
      // Act: a late retry of the same settlement
      await book.record(ref, charge);
      // Assess
      expect(await readCounters(ref.tenantId)).toMatchObject({ jobs: 1, calls: 3 });
      expect((await readRecord(ref))?.counted).toBe(true);
    });

    it('keeps a marker exactly an hour old and drops one a millisecond older', async () => {
      // Prepare: the clock stands still at `now`
      const now = Date.now();
      vi.spyOn(Date, 'now').mockReturnValue(now);
      const tenantId = freshTenant();
      const book = new DynamoUsageBook(table.doc, table.tableName);
      // Act
      await book.record({ tenantId, jobId: 'hour-old' }, chargeOf({ settledAt: now - HOUR_MS }));
      await book.record({ tenantId, jobId: 'older' }, chargeOf({ settledAt: now - HOUR_MS - 1 }));
      // Assess
      const counters = await readCounters(tenantId);
      expect(counters?.countMarkers).toEqual(new Set([`${now - HOUR_MS}#hour-old`]));
      expect(counters).toMatchObject({ jobs: 2 });
    });
  });

  describe('summary', () => {
    it('answers from the month’s counters in one read, cached tokens and AWS cost included', async () => {
      // Prepare: two jobs recorded
      const tenantId = freshTenant();
      const book = new DynamoUsageBook(table.doc, table.tableName);
      await book.record(
        { tenantId, jobId: 'job-1' },
        chargeOf({ cachedInputTokens: 40, awsCostUsd: 0.00012345 }),
      );
      await book.record(
        { tenantId, jobId: 'job-2' },
        chargeOf({ cachedInputTokens: 2, awsCostUsd: 0.0000001 }),
      );
      const { client, sent } = watchedClient(table.doc);
      // Act
      const summary = await new DynamoUsageBook(client, table.tableName).summary(tenantId, PERIOD);
      // Assess
      expect(summary).toEqual(twoJobsSummary(tenantId));
      expect(sent).toHaveLength(1);
      expect(sent[0]).toBeInstanceOf(GetCommand);
    });

    it('sums a month without counters from its records, cached tokens and AWS cost included', async () => {
      // Prepare: two records written before the counters existed
      const tenantId = freshTenant();
      for (const [jobId, cachedInputTokens, awsCostUsd] of [
        ['job-1', 40, 0.00012345],
        ['job-2', 2, 0.0000001],
      ] as const) {
        await table.doc.send(
          new PutCommand({
            TableName: table.tableName,
            Item: {
              pk: keys.tenantPk(tenantId),
              sk: keys.usage(PERIOD, jobId),
              jobId,
              ...chargeOf({ cachedInputTokens, awsCostUsd }),
            },
          }),
        );
      }
      const { client, sent } = watchedClient(table.doc);
      // Act
      const summary = await new DynamoUsageBook(client, table.tableName).summary(tenantId, PERIOD);
      // Assess
      expect(summary).toEqual(twoJobsSummary(tenantId));
      expect(sent.some((c) => c instanceof QueryCommand)).toBe(true);
    });
  });
});
