import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '#shared/adapters/dynamo/keys';
import { isConditionFailure, requireTenant, tenantItemKey } from '#shared/adapters/dynamo/tenant-item';
import { DynamoUsageBook } from '#shared/adapters/dynamo/usage-book';
import { AuthError, BudgetExceededError, CallsStoppedError, TenantLimitError } from '#shared/domain/errors';
import { costUsd, tokenTotals } from '#shared/domain/measures';
import { usagePeriod, usd } from '#shared/domain/tenant';
import type { PriceTable, StepRecord } from '#shared/domain/types';
import type { JobRef } from '#shared/ports/job-store';
import type { BudgetLedger, CallStop, JobCharge, ReserveOptions, UsageSummary } from '#shared/ports/ledger';

const stopReason = (stop: unknown): string => (stop as CallStop).reason ?? (stop as CallStop).status;

/**
 * How long a settlement's marker stays on the tenant item. Settling runs again only when a Lambda is
 * retried or two paths close the same job at once, both within seconds; older markers are trimmed.
 */
const SETTLE_MARKER_TTL_MS = 3600_000;

/** How long a stopped job waits for its calls in flight: the longest a Lambda lives (15 min). */
const STOP_GRACE_MS = 15 * 60_000;

/** When a tenant at its jobs-at-once limit may try again (a job runs for seconds to minutes). */
const CONCURRENT_JOBS_RETRY_AFTER_SECONDS = 10;

/**
 * Budgets and usage in the single table: the tenant's balance on its item (`TENANT#<tenantId>` /
 * `TENANT`), each job's reservation on a budget record in the job's partition (which leads with the
 * tenant too), usage records and monthly counters under `TENANT#<tenantId>` ({@link DynamoUsageBook}).
 * The tenant item also counts the jobs holding a reservation (`activeJobs`). dynalite has no
 * transactions, so every multi-item change is a sequence of conditional writes, ordered so that a
 * crash can strand money on the safe side (held, never overspent) and a retry never applies a
 * change twice.
 */
export class DynamoBudgetLedger implements BudgetLedger {
  private readonly usageBook: DynamoUsageBook;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.usageBook = new DynamoUsageBook(client, tableName);
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

  /**
   * Takes `amount` from the tenant's available balance, or explains why it cannot. For a new job
   * (`job`) it also counts the job active, within `job.maxConcurrentJobs` when set.
   */
  private async holdFromTenant(
    tenantId: string,
    amount: number,
    what: string,
    job?: ReserveOptions,
  ): Promise<void> {
    const limit = job?.maxConcurrentJobs;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: tenantItemKey(tenantId),
          UpdateExpression: `SET availableUsd = availableUsd - :a, reservedUsd = reservedUsd + :a${job ? ', activeJobs = if_not_exists(activeJobs, :zero) + :one' : ''}`,
          ConditionExpression: `attribute_exists(pk) AND #s = :active AND availableUsd >= :a${limit === undefined ? '' : ' AND (attribute_not_exists(activeJobs) OR activeJobs < :limit)'}`,
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: {
            ':a': amount,
            ':active': 'ACTIVE',
            ...(job ? { ':zero': 0, ':one': 1 } : {}),
            ...(limit === undefined ? {} : { ':limit': limit }),
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const tenant = await requireTenant(this.client, this.tableName, tenantId);
      if (tenant.status !== 'ACTIVE') throw new AuthError(`tenant ${tenantId} is revoked`, true);
      if (limit !== undefined && (tenant.activeJobs ?? 0) >= limit) {
        throw new TenantLimitError(
          `the tenant runs ${tenant.activeJobs} jobs, its limit of jobs at once (maxConcurrentJobs ${limit}); submit again once one has ended`,
          {
            limit: 'maxConcurrentJobs',
            value: limit,
            retryAfterSeconds: CONCURRENT_JOBS_RETRY_AFTER_SECONDS,
          },
        );
      }
      throw new BudgetExceededError(
        `the budget cannot cover ${what}: it needs $${amount.toFixed(4)} and $${tenant.availableUsd.toFixed(4)} of the $${tenant.budgetUsd.toFixed(2)} budget is available`,
        { requiredUsd: amount, availableUsd: tenant.availableUsd },
      );
    }
  }

  /** Gives `amount` held for a job that could not take it back to the tenant's available balance. */
  private async returnToTenant(tenantId: string, amount: number): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: tenantItemKey(tenantId),
        UpdateExpression: 'SET availableUsd = availableUsd + :a, reservedUsd = reservedUsd - :a',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':a': amount },
      }),
    );
  }

  async reserve(ref: JobRef, estimateUsd: number, opts: ReserveOptions = {}): Promise<void> {
    if (await this.getBudget(ref)) return; // a repeated submission of the same job
    const amount = usd(estimateUsd);
    await this.holdFromTenant(ref.tenantId, amount, 'this job', opts);
    const createdAt = new Date().toISOString();
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.budgetKey(ref),
            reservedUsd: amount,
            heldUsd: amount,
            remainingUsd: amount,
            createdAt,
            // Counted in the tenant's activeJobs until closed; listed for the sweeper until then.
            activeJob: true,
            gsi1pk: keys.openReservationsPk,
            gsi1sk: keys.openReservationSk(createdAt, ref),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
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

  async authorizeCall(ref: JobRef, maxUsd: number): Promise<number> {
    const amount = usd(maxUsd);
    for (let round = 0; round < 4; round++) {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.budgetKey(ref),
            // inFlight counts the call until completeCall: a stop waits for it before settling.
            UpdateExpression: 'SET remainingUsd = remainingUsd - :a ADD inFlight :one',
            ConditionExpression:
              'attribute_exists(pk) AND remainingUsd >= :a AND attribute_not_exists(charge) AND attribute_not_exists(stopped)',
            ExpressionAttributeValues: { ':a': amount, ':one': 1 },
          }),
        );
        return amount;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const budget = await this.getBudget(ref);
      if (!budget) return 0; // a job without a budget (local runs of `parl run`)
      if (budget.stopped) {
        throw new CallsStoppedError(`the job's model calls were stopped (${stopReason(budget.stopped)})`);
      }
      if (budget.charge) {
        throw new BudgetExceededError('the job has already been settled; no further model calls', {
          requiredUsd: amount,
          availableUsd: 0,
        });
      }
      // Top up the job's reservation by a quarter of it at least, so top-ups stay rare.
      const topUp = usd(Math.max(amount, Number(budget.reservedUsd) * 0.25));
      await this.holdFromTenant(ref.tenantId, topUp, 'the next model call of this job');
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
        await this.returnToTenant(ref.tenantId, topUp);
      }
    }
    throw new BudgetExceededError('the job could not authorize a model call (contended budget)', {
      requiredUsd: amount,
      availableUsd: 0,
    });
  }

  async completeCall(ref: JobRef, authorizedUsd: number, actualUsd: number): Promise<CallStop | undefined> {
    if (authorizedUsd <= 0) return undefined;
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.budgetKey(ref),
          UpdateExpression: 'SET remainingUsd = remainingUsd + :d ADD inFlight :minus',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':d': usd(authorizedUsd - actualUsd), ':minus': -1 },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const budget = out.Attributes ?? {};
      // The last call of a stopped job: its caller closes the job (settling every call made).
      const last = budget.stopped && Number(budget.inFlight ?? 0) <= 0 && !budget.charge;
      return last ? (budget.stopped as CallStop) : undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return undefined;
    }
  }

  async stopCalls(ref: JobRef, stop: CallStop): Promise<number> {
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
      const stopped = out.Attributes?.stopped as { at?: string } | undefined;
      // A call still counted long after the stop died with its Lambda (a timeout mid-call): it
      // will never end, so it must not hold the job open.
      if (Date.now() - Date.parse(stopped?.at ?? '') > STOP_GRACE_MS) return 0;
      return Math.max(0, Number(out.Attributes?.inFlight ?? 0));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return 0; // a job without a budget record: no call is counted
    }
  }

  /**
   * 1. freeze the charge on the job's budget record (the first settlement's figures win)
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
    if (!charge) {
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.budgetKey(ref),
            UpdateExpression: 'SET charge = :c, #st = :settling',
            ConditionExpression: 'attribute_not_exists(charge)',
            ExpressionAttributeNames: { '#st': 'state' },
            ExpressionAttributeValues: { ':c': figures, ':settling': 'SETTLING' },
          }),
        );
        charge = figures;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        charge = (await this.getBudget(ref))?.charge as JobCharge;
      }
    }
    // What is held once the charge is frozen: no top-up lands after it (they need no charge).
    const held = usd(Number((await this.getBudget(ref))?.heldUsd ?? budget.heldUsd));
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
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.budgetKey(ref),
        // Closed: out of the sweeper's list of open reservations.
        UpdateExpression: 'SET #st = :done REMOVE gsi1pk, gsi1sk',
        ExpressionAttributeNames: { '#st': 'state' },
        ExpressionAttributeValues: { ':done': 'DONE' },
      }),
    );
    await this.trimSettleMarkers(ref.tenantId);
  }

  /** Drops settlement markers older than SETTLE_MARKER_TTL_MS, so the tenant item stays small. */
  private async trimSettleMarkers(tenantId: string): Promise<void> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: tenantItemKey(tenantId),
        ProjectionExpression: 'settleMarkers',
      }),
    );
    const cutoff = Date.now() - SETTLE_MARKER_TTL_MS;
    const stale = [...((out.Item?.settleMarkers as Set<string> | undefined) ?? [])].filter(
      (m) => Number(m.split('#')[0]) < cutoff,
    );
    if (stale.length === 0) return;
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: tenantItemKey(tenantId),
        UpdateExpression: 'DELETE settleMarkers :stale',
        ExpressionAttributeValues: { ':stale': new Set(stale) },
      }),
    );
  }

  usage(tenantId: string, period: string): Promise<UsageSummary> {
    return this.usageBook.summary(tenantId, period);
  }
}
