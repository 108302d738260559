import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BudgetExceededError, CallsStoppedError } from '#shared/domain/errors';
import { costUsd, tokenTotals } from '#shared/domain/measures';
import { usagePeriod, usd } from '#shared/domain/tenant';
import type { PriceTable, StepRecord } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import type { BudgetLedger, CallStop, JobCharge, ReserveOptions, UsageSummary } from '#shared/ports/ledger';
import { endRefill, leaseRefill, REFILL_POLL_MS, refillUnderWay } from './budget-refill';
import { BUDGET_SHARDS, BudgetShards, shardOf } from './budget-shards';
import { keys } from './keys';
import { trimStaleMarkers } from './markers';
import { holdFromTenant, returnToTenant } from './tenant-balance';
import { isConditionFailure, tenantItemKey } from './tenant-item';
import { DynamoUsageBook } from './usage-book';

const stopReason = (stop: unknown): string => (stop as CallStop).reason ?? (stop as CallStop).status;

const callsStopped = (stop: unknown) =>
  new CallsStoppedError(`the job's model calls were stopped (${stopReason(stop)})`);

const alreadySettled = (amount: number) =>
  new BudgetExceededError('the job has already been settled; no further model calls', {
    requiredUsd: amount,
    availableUsd: 0,
  });

/** How long a stopped job waits for its calls in flight: the longest a Lambda lives (15 min). */
const STOP_GRACE_MS = 15 * 60_000;

/**
 * Budgets and usage in the single table: the tenant's balance on its item (`TENANT#<tenantId>` /
 * `TENANT`), each job's reservation on a budget record in the job's partition (which leads with the
 * tenant too), usage records and monthly counters under `TENANT#<tenantId>` ({@link DynamoUsageBook}).
 * The tenant item also counts the jobs holding a reservation (`activeJobs`). dynalite has no
 * transactions, so every multi-item change is a sequence of conditional writes, ordered so that a
 * crash can strand money on the safe side (held, never overspent) and a retry never applies a
 * change twice.
 *
 * Model calls do not write the budget record: one item takes its writes one at a time, and every
 * call of every sub-agent of a job would queue on it twice. They write one of the job's
 * {@link BudgetShards} instead (the caller's, `BUDGET#<hash(agentId) mod 16>`), which draws chunks
 * of money from the budget record. Only the budget record moves money with the tenant (`heldUsd`
 * stays on it; a shard's money is part of what the job holds), so the tenant's sums never see a
 * shard, and a job tops up from the tenant only once the record and every shard are short. The orders that keep the promises of {@link BudgetLedger}:
 * - stop: the record, then every shard, then a read of every shard (see {@link stopCalls});
 * - last call: on a stopped shard, every shard is read after this call's own count went down;
 * - settle: every shard closed, then the charge frozen: nothing is authorized after the freeze,
 *   and no chunk is drawn from a record with a charge or a stop.
 */
export class DynamoBudgetLedger implements BudgetLedger {
  private readonly usageBook: DynamoUsageBook;
  private readonly shards: BudgetShards;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.usageBook = new DynamoUsageBook(client, tableName);
    this.shards = new BudgetShards(client, tableName);
  }

  private budgetKey(ref: JobRef) {
    return { pk: keys.jobPk(ref), sk: keys.budget };
  }

  private async getBudget(ref: JobRef): Promise<Record<string, unknown> | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: this.budgetKey(ref), ConsistentRead: true }),
    );
    return out.Item;
  }

  async reserve(ref: JobRef, estimateUsd: number, opts: ReserveOptions = {}): Promise<void> {
    if (await this.getBudget(ref)) return; // a repeated submission of the same job
    const amount = usd(estimateUsd);
    await holdFromTenant(this.client, this.tableName, ref.tenantId, amount, 'this job', opts);
    const createdAt = new Date().toISOString();
    // Half the reservation in equal shares over the shards; the other half stays on the record, for
    // the shards whose callers need more than their share.
    const share = Math.floor((amount * 1e6) / (2 * BUDGET_SHARDS)) / 1e6;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.budgetKey(ref),
            reservedUsd: amount,
            heldUsd: amount,
            remainingUsd: usd(amount - share * BUDGET_SHARDS),
            createdAt,
            // Counted in the tenant's activeJobs until closed; listed for the sweeper until then.
            activeJob: true,
            gsi1pk: keys.openReservationsPk,
            gsi1sk: keys.openReservationSk(createdAt, ref),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      // The job is not stored yet, so no call can reach a shard before this. A crash before it
      // leaves the shares out of every shard: calls then top up from the tenant (held, never spent).
      await this.shards.fundAll(ref, share);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // A concurrent duplicate reserved first: give this hold (and its count) back.
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: tenantItemKey(ref.tenantId),
          UpdateExpression:
            'SET availableUsd = availableUsd + :a, reservedUsd = reservedUsd - :a, activeJobs = activeJobs - :one',
          ExpressionAttributeValues: { ':a': amount, ':one': 1 },
        }),
      );
    }
  }

  /**
   * One conditional write on the caller's shard in the common case (the shards start with shares of
   * the reservation). A shard short of money is funded ({@link fundShard}) and the call taken from it
   * in one more write.
   */
  async authorizeCall(ref: JobRef, maxUsd: number, caller = ''): Promise<number> {
    const amount = usd(maxUsd);
    const shard = shardOf(caller);
    for (let round = 0; round < 8; ) {
      if (await this.shards.take(ref, shard, amount)) return amount;
      const budget = await this.getBudget(ref);
      if (!budget) return 0; // a job without a budget (local runs of `parl run`)
      if (budget.stopped) throw callsStopped(budget.stopped);
      if (budget.charge) throw alreadySettled(amount);
      if (usd(Number(budget.remainingUsd ?? 0)) < amount && refillUnderWay(budget)) {
        // Another caller refills the record: wait for it (a lease that runs out ends the wait).
        await new Promise((r) => setTimeout(r, REFILL_POLL_MS));
        continue;
      }
      if (await this.fundShard(ref, shard, budget, amount)) return amount;
      round++;
    }
    throw new BudgetExceededError('the job could not authorize a model call (contended budget)', {
      requiredUsd: amount,
      availableUsd: 0,
    });
  }

  /**
   * Funds shard `k` from what the job's record has not handed out (a share of the reservation, or
   * what is left when that covers the call) and authorizes `amount` from it. When the record has
   * not enough, the money the shards hold unused goes back to it first, and only when there was
   * none does the job top up from the tenant's balance, as it would with one item: a quarter of its
   * reservation at least, so top-ups stay rare (BudgetExceededError when the balance cannot cover
   * it, the tenant unchanged). False: the record changed, look again.
   */
  private async fundShard(
    ref: JobRef,
    k: number,
    budget: Record<string, unknown>,
    amount: number,
  ): Promise<boolean> {
    const reservedUsd = Number(budget.reservedUsd);
    const remaining = usd(Number(budget.remainingUsd ?? 0));
    if (remaining < amount) {
      await this.refill(ref, reservedUsd, amount);
      return false;
    }
    const chunk = usd(Math.min(remaining, Math.max(amount, reservedUsd / (2 * BUDGET_SHARDS))));
    if (!(await this.takeFromJob(ref, chunk))) return false;
    if (await this.shards.fundAndTake(ref, k, chunk, amount)) return true;
    // The shard was stopped or closed meanwhile: the chunk goes back to the record.
    await this.creditJob(ref, chunk);
    const now = await this.getBudget(ref);
    throw now?.stopped ? callsStopped(now.stopped) : alreadySettled(amount);
  }

  /**
   * Refills a record short of `amount`, one caller at a time (its refill lease): from the shards'
   * unused money, or when they have none from the tenant's balance. A caller that finds the lease
   * taken, or the record refilled once it has it, does nothing and looks again.
   */
  private async refill(ref: JobRef, reservedUsd: number, amount: number): Promise<void> {
    const lease = await leaseRefill(this.client, this.tableName, this.budgetKey(ref));
    if (!lease) return;
    try {
      const { record } = lease;
      if (record.stopped || record.charge || usd(Number(record.remainingUsd ?? 0)) >= amount) return;
      const reclaimed = await this.shards.reclaim(ref);
      if (reclaimed > 0) await this.creditJob(ref, reclaimed);
      else await this.topUpJob(ref, reservedUsd, amount);
    } finally {
      await endRefill(this.client, this.tableName, this.budgetKey(ref), lease.until);
    }
  }

  /** Holds more of the tenant's balance for the job (BudgetExceededError when it cannot cover it). */
  private async topUpJob(ref: JobRef, reservedUsd: number, amount: number): Promise<void> {
    const topUp = usd(Math.max(amount, reservedUsd * 0.25));
    await holdFromTenant(this.client, this.tableName, ref.tenantId, topUp, 'the next model call of this job');
    try {
      // Only onto a job not settled yet: a settlement freezes the charge, then reads what is held.
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.budgetKey(ref),
          UpdateExpression: 'SET remainingUsd = remainingUsd + :t, heldUsd = heldUsd + :t',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(charge)',
          ExpressionAttributeValues: { ':t': topUp },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Settled meanwhile: the top-up goes back to the tenant, and the next round says why.
      await returnToTenant(this.client, this.tableName, ref.tenantId, topUp);
    }
  }

  /** Takes `amount` of what the job's record has not handed out; false when it has not that much. */
  private async takeFromJob(ref: JobRef, amount: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.budgetKey(ref),
          UpdateExpression: 'SET remainingUsd = remainingUsd - :c',
          ConditionExpression:
            'attribute_exists(pk) AND remainingUsd >= :c AND attribute_not_exists(charge) AND attribute_not_exists(stopped)',
          ExpressionAttributeValues: { ':c': amount },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  /** Puts money a shard took (or could not take) back into what the job's record hands out. */
  private async creditJob(ref: JobRef, amount: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.budgetKey(ref),
        UpdateExpression: 'SET remainingUsd = remainingUsd + :c',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':c': amount },
      }),
    );
  }

  /**
   * One write on the caller's shard. Only on a shard a stop has reached can this be the last call
   * of the job; then every shard is read (after this call's own count went down): the last call is
   * the one that finds every shard stopped and none of them counting a call. Two calls ending at
   * once may both find that; closing a job is idempotent.
   */
  async completeCall(
    ref: JobRef,
    authorizedUsd: number,
    actualUsd: number,
    caller = '',
  ): Promise<CallStop | undefined> {
    if (authorizedUsd <= 0) return undefined;
    const shard = await this.shards.complete(ref, shardOf(caller), usd(authorizedUsd - actualUsd));
    if (!shard?.stopped || Number(shard.inFlight ?? 0) > 0) return undefined;
    const [budget, calls] = await Promise.all([this.getBudget(ref), this.shards.calls(ref)]);
    const last = budget?.stopped && !budget.charge && calls.allStopped && calls.inFlight <= 0;
    return last ? (budget.stopped as CallStop) : undefined;
  }

  /**
   * 1. mark the budget record stopped (no chunk is drawn from it from now on; the first stop kept)
   * 2. mark every shard stopped (no call is authorized from now on)
   * 3. read every shard and sum the calls in flight: a call that ended while the shards were being
   *    marked is seen here, one that ends after it finds every shard stopped (completeCall)
   */
  async stopCalls(ref: JobRef, stop: CallStop): Promise<number> {
    let stopped: { at?: string } | undefined;
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.budgetKey(ref),
          UpdateExpression: 'SET stopped = if_not_exists(stopped, :stop)',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':stop': { ...stop, at: new Date().toISOString() } },
          ReturnValues: 'ALL_NEW',
        }),
      );
      stopped = out.Attributes?.stopped as { at?: string } | undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return 0; // a job without a budget record: no call is counted
    }
    await this.shards.markAll(ref, 'stopped');
    // A call still counted long after the stop died with its Lambda (a timeout mid-call): it
    // will never end, so it must not hold the job open.
    if (Date.now() - Date.parse(stopped?.at ?? '') > STOP_GRACE_MS) return 0;
    return Math.max(0, (await this.shards.calls(ref)).inFlight);
  }

  /**
   * 1. close every shard (no call is authorized from then on), then freeze the charge on the job's
   *    budget record (the first settlement's figures win)
   * 2. move the money on the tenant item once (a marker in a string set guards against a repeat)
   * 3. put the job's usage record (same key, same figures: idempotent)
   * 4. mark the budget record DONE and trim old markers
   */
  async settle(
    ref: JobRef,
    acceptedAt: string,
    steps: readonly StepRecord[],
    prices: PriceTable,
    report: { awsCostUsd?: number | undefined } = {},
  ): Promise<void> {
    const totals = tokenTotals(steps);
    const figures: JobCharge = {
      period: usagePeriod(acceptedAt),
      jobs: 1,
      calls: steps.length,
      inputTokens: totals.input,
      cachedInputTokens: totals.cachedInput,
      outputTokens: totals.output,
      costUsd: usd(costUsd(totals, prices)),
      ...(report.awsCostUsd === undefined ? {} : { awsCostUsd: report.awsCostUsd }),
      settledAt: Date.now(),
    };
    await this.close(ref, figures, true);
  }

  /**
   * Gives a job's reservation back whole, with no usage record: the compensation for a job that was
   * never stored (and what the sweeper does with a reservation left without a job).
   */
  async release(ref: JobRef): Promise<void> {
    const nothing: JobCharge = {
      period: usagePeriod(new Date().toISOString()),
      jobs: 0,
      calls: 0,
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      settledAt: Date.now(),
    };
    await this.close(ref, nothing, false);
  }

  /** Settles or releases a reservation: the steps of {@link settle}, the usage record optional. */
  private async close(ref: JobRef, figures: JobCharge, recordUsage: boolean): Promise<void> {
    const budget = await this.getBudget(ref);
    if (!budget) {
      if (recordUsage) await this.usageBook.record(ref, figures);
      return;
    }
    if (budget.state === 'DONE') return;
    let charge = budget.charge as JobCharge | undefined;
    // What is held once the charge is frozen: no top-up lands after it (they need no charge), so
    // the record as the charge left it (or as read with a charge already on it) holds the figure.
    let frozen: Record<string, unknown> | undefined = budget;
    if (!charge) {
      // No call is authorized once a shard is closed: every call authorized came before the freeze.
      await this.shards.markAll(ref, 'closed');
      try {
        const out = await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.budgetKey(ref),
            UpdateExpression: 'SET charge = :c, #st = :settling',
            ConditionExpression: 'attribute_not_exists(charge)',
            ExpressionAttributeNames: { '#st': 'state' },
            ExpressionAttributeValues: { ':c': figures, ':settling': 'SETTLING' },
            ReturnValues: 'ALL_NEW',
          }),
        );
        charge = figures;
        frozen = out.Attributes;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        frozen = await this.getBudget(ref);
        charge = frozen?.charge as JobCharge;
      }
    }
    const held = usd(Number(frozen?.heldUsd ?? budget.heldUsd));
    const charged = usd(Math.min(charge.costUsd, held));
    // The marker is the same string on every retry: the frozen settlement time and the job.
    const marker = `${charge.settledAt}#${ref.jobId}`;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: tenantItemKey(ref.tenantId),
          UpdateExpression: `SET availableUsd = availableUsd + :release, reservedUsd = reservedUsd - :held, spentUsd = spentUsd + :charged${budget.activeJob ? ', activeJobs = activeJobs - :one' : ''} ADD settleMarkers :markers`,
          ConditionExpression: 'attribute_exists(pk) AND NOT contains(settleMarkers, :marker)',
          ExpressionAttributeValues: {
            ':release': usd(held - charged),
            ':held': held,
            ':charged': charged,
            ':markers': new Set([marker]),
            ':marker': marker,
            ...(budget.activeJob ? { ':one': 1 } : {}),
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    if (recordUsage) await this.usageBook.record(ref, charge);
    // The two last writes go together: the trim takes only markers an hour old, never this job’s.
    await Promise.all([
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.budgetKey(ref),
          // Closed: out of the sweeper's list of open reservations.
          UpdateExpression: 'SET #st = :done REMOVE gsi1pk, gsi1sk',
          ExpressionAttributeNames: { '#st': 'state' },
          ExpressionAttributeValues: { ':done': 'DONE' },
        }),
      ),
      trimStaleMarkers(this.client, this.tableName, tenantItemKey(ref.tenantId), 'settleMarkers'),
    ]);
  }

  usage(tenantId: string, period: string): Promise<UsageSummary> {
    return this.usageBook.summary(tenantId, period);
  }
}
