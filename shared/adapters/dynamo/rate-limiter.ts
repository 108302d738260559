import { createHash, randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { CircuitOpenError, LimiterTimeoutError } from '#shared/domain/errors';
import {
  type AcquireDecision,
  type AcquireRequest,
  applyRelease,
  type CallOutcome,
  type DenyReason,
  decideAcquire,
  initialLimiterState,
  type Lease,
  type LimiterPolicy,
  type LimiterState,
  type ProviderLimits,
} from '#shared/domain/provider-limits';
import type { AcquireOptions, LimiterLease, RateLimiter } from '#shared/ports/rate-limiter';

/** The sort key of a provider key's limiter item. */
export const LIMITER_SK = 'LIMITER';

/**
 * The partition key of a provider key's limiter: `PROVIDER#<16 hex of sha256(baseUrl, apiKey)>`.
 * Every job of every tenant using the same key shares it; the key itself is never stored.
 */
export function providerPartitionKey(baseUrl: string, apiKey: string | undefined): string {
  const hash = createHash('sha256')
    .update(`${baseUrl}\n${apiKey ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  return `PROVIDER#${hash}`;
}

/** How long the limiter item lives after its last write (idle keys disappear through the table's TTL). */
const ITEM_TTL_SECONDS = 7 * 24 * 3600;

/** Reasons a slot may free at any moment (a release in this process wakes the waiter at once). */
const WAKEABLE: ReadonlySet<DenyReason> = new Set([
  'concurrency',
  'fair-share',
  'orchestrator-priority',
  'probing',
]);

export interface DynamoRateLimiterOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** From {@link providerPartitionKey}. */
  pk: string;
  policy: LimiterPolicy;
  maxWaitMs: number;
  pollMs: number;
  now?: () => number;
  random?: () => number;
}

interface DynamoLease extends LimiterLease {
  readonly lease: Lease;
}

/** One queued change of the limiter item. */
type Op =
  | {
      kind: 'acquire';
      request: AcquireRequest;
      resolve: (d: AcquireDecision) => void;
      reject: (e: unknown) => void;
    }
  | {
      kind: 'release';
      lease: Lease;
      outcome: CallOutcome;
      resolve: () => void;
      reject: (e: unknown) => void;
    };

/**
 * The shared limiter of one provider key in DynamoDB: one item holds leases, pacing clocks,
 * cooldown, adaptive ceiling and breaker; every change is a read-modify-write under a version
 * condition, so concurrent Lambdas never both take the last slot.
 *
 * Within one process (a warm Lambda, or the local runtime where every sub-agent shares one
 * instance) the pending acquisitions and releases are applied together in one read-modify-write
 * (releases first, then orchestrators, then sub-agents in arrival order), so a hundred local
 * callers cost one write, not a hundred conflicting ones; a release wakes the local waiters.
 */
export class DynamoRateLimiter implements RateLimiter {
  private pending: Op[] = [];
  private pumping = false;
  private readonly wakers = new Set<() => void>();
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly o: DynamoRateLimiterOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  get limits(): ProviderLimits {
    return this.o.policy.limits;
  }

  async acquire(options: AcquireOptions): Promise<LimiterLease> {
    const started = this.now();
    const deadline = started + this.o.maxWaitMs;
    const request: AcquireRequest = { ...options, leaseId: randomUUID() };
    for (;;) {
      const decision = await new Promise<AcquireDecision>((resolve, reject) =>
        this.submit({ kind: 'acquire', request, resolve, reject }),
      );
      const now = this.now();
      if (decision.granted)
        return { id: decision.lease.id, waitedMs: now - started, lease: decision.lease } as DynamoLease;
      // A provider that keeps failing is not waited for: the caller fails fast (and may retry later).
      if (decision.reason === 'circuit-open') {
        throw new CircuitOpenError(
          `the provider kept failing; its circuit is open for ${Math.round(decision.waitMs ?? 0)} ms more`,
          decision.waitMs ?? 0,
        );
      }
      if (now >= deadline) {
        throw new LimiterTimeoutError(
          `the provider's limiter granted no call within ${this.o.maxWaitMs} ms (last reason: ${decision.reason})`,
          decision.reason,
        );
      }
      // Known waits get a random spread on top, so waiters released together do not call together.
      const wait =
        decision.waitMs === undefined
          ? this.o.pollMs * (0.5 + this.random())
          : decision.waitMs + this.random() * this.o.pollMs;
      await this.sleep(Math.min(wait, deadline - now), WAKEABLE.has(decision.reason));
    }
  }

  async release(lease: LimiterLease, outcome: CallOutcome): Promise<void> {
    const own = (lease as DynamoLease).lease;
    await new Promise<void>((resolve, reject) =>
      this.submit({ kind: 'release', lease: own, outcome, resolve, reject }),
    );
  }

  private submit(op: Op): void {
    this.pending.push(op);
    if (!this.pumping) void this.pump();
  }

  /** Applies everything pending in one read-modify-write, until nothing is pending. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        const rank = (op: Op) => (op.kind === 'release' ? 0 : op.request.role === 'orchestrator' ? 1 : 2);
        const ordered = batch
          .map((op, i) => ({ op, i }))
          .sort((a, b) => rank(a.op) - rank(b.op) || a.i - b.i);
        try {
          const results = await this.update((state, now) => {
            let s = state;
            let write = false;
            const out: (AcquireDecision | undefined)[] = [];
            for (const { op } of ordered) {
              if (op.kind === 'release') {
                s = applyRelease(s, s.leases[op.lease.id] ?? op.lease, op.outcome, this.o.policy, now);
                write = true;
                out.push(undefined);
              } else {
                const d = decideAcquire(s, op.request, this.o.policy, now);
                s = d.state;
                write ||= d.granted || d.changed;
                out.push(d);
              }
            }
            return { state: s, write, result: out };
          });
          ordered.forEach(({ op }, k) => {
            if (op.kind === 'release') op.resolve();
            else op.resolve(results[k] as AcquireDecision);
          });
          if (batch.some((op) => op.kind === 'release')) for (const wake of [...this.wakers]) wake();
        } catch (error) {
          for (const op of batch) op.reject(error);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  async snapshot(): Promise<{ limits: ProviderLimits; state: LimiterState }> {
    return { limits: this.o.policy.limits, state: (await this.read()).state };
  }

  private async read(): Promise<{ state: LimiterState; version: number }> {
    const out = await this.o.client.send(
      new GetCommand({
        TableName: this.o.tableName,
        Key: { pk: this.o.pk, sk: LIMITER_SK },
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return { state: initialLimiterState(this.o.policy.limits), version: 0 };
    const state = out.Item.state as LimiterState;
    // A changed configuration (a new tier) takes effect on the stored ceiling at once.
    const ceiling = Math.min(state.ceiling, this.o.policy.limits.maxConcurrency);
    return { state: { ...state, ceiling }, version: Number(out.Item.version) };
  }

  /** Read, change, write under the version condition; on a lost race read again. */
  private async update<T>(
    change: (state: LimiterState, now: number) => { state: LimiterState; write: boolean; result: T },
  ): Promise<T> {
    for (;;) {
      const { state, version } = await this.read();
      const now = this.now();
      const out = change(state, now);
      if (!out.write) return out.result;
      try {
        await this.o.client.send(
          new PutCommand({
            TableName: this.o.tableName,
            Item: {
              pk: this.o.pk,
              sk: LIMITER_SK,
              version: version + 1,
              state: out.state,
              ttl: Math.floor(now / 1000) + ITEM_TTL_SECONDS,
            },
            ConditionExpression: version === 0 ? 'attribute_not_exists(pk)' : 'version = :v',
            ...(version === 0 ? {} : { ExpressionAttributeValues: { ':v': version } }),
          }),
        );
        return out.result;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // Someone else wrote first: a short random pause keeps losers from colliding again.
        await new Promise((r) => setTimeout(r, this.random() * 5));
      }
    }
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.wakers.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, ms));
      if (wakeable) this.wakers.add(finish);
    });
  }
}
