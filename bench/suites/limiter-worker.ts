/**
 * A worker thread of the `limiter` suite: independent limiter clients, each with its own DynamoDB
 * client and its own limiter (they share nothing: a release wakes only waiters of its own limiter),
 * each calling in a loop: acquire, a "model call" (a sleep), release. Every request a client sends to the table is counted by a
 * middleware (per attempt, after the SDK's retries).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoClient } from '#shared/adapters/aws/clients';
import { DynamoRateLimiter } from '#shared/adapters/dynamo/rate-limiter';
import { LimiterTimeoutError } from '#shared/domain/errors';
import type { LimiterPolicy } from '#shared/domain/provider-limits';

export interface LimiterBenchJob {
  endpoint: string;
  tableName: string;
  pk: string;
  policy: LimiterPolicy;
  clients: number;
  /** First client index of this worker (clients are spread over three tenants by index). */
  firstClient: number;
  latencyMs: [number, number];
  estimatedTokens: number;
  minTokens: number;
  pollMs: number;
  maxWaitMs: number;
}

export interface LimiterBenchStart {
  startAt: number;
  endAt: number;
  /** Clients start spread over this long, as Lambdas would. */
  staggerMs: number;
}

export interface LimiterBenchOutcome {
  /** [granted at, released at, waited ms] of every call granted before the end. */
  grants: [number, number, number][];
  /** When each read (GetItem, Query) and write (UpdateItem, PutItem, DeleteItem) was sent. */
  reads: number[];
  writes: number[];
  /** Requests the table answered with a throttling error, and acquisitions that gave up because of it. */
  throttledRequests: number;
  /** Round trip of each request, ms. */
  roundTrips: number[];
  throttleFailures: number;
  failures: string[];
}

const READS = new Set(['GetItemCommand', 'QueryCommand', 'BatchGetItemCommand', 'ScanCommand']);
const THROTTLES = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function countedClient(job: LimiterBenchJob, out: LimiterBenchOutcome): DynamoDBDocumentClient {
  const client = createDynamoClient({ region: 'us-east-1', dynamodbEndpoint: job.endpoint });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const sent = Date.now();
      (READS.has(context.commandName ?? '') ? out.reads : out.writes).push(sent);
      try {
        const result = await next(args);
        out.roundTrips.push(Date.now() - sent);
        return result;
      } catch (error) {
        if (THROTTLES.has((error as Error).name)) out.throttledRequests += 1;
        throw error;
      }
    },
    { step: 'deserialize', name: 'countRequests' },
  );
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

async function runClient(
  index: number,
  job: LimiterBenchJob,
  start: LimiterBenchStart,
  out: LimiterBenchOutcome,
) {
  const limiter = new DynamoRateLimiter({
    client: countedClient(job, out),
    tableName: job.tableName,
    pk: job.pk,
    policy: job.policy,
    maxWaitMs: job.maxWaitMs,
    pollMs: job.pollMs,
  });
  await sleep(start.startAt - Date.now() + Math.random() * start.staggerMs);
  const [low, high] = job.latencyMs;
  while (Date.now() < start.endAt) {
    let lease: Awaited<ReturnType<DynamoRateLimiter['acquire']>>;
    try {
      lease = await limiter.acquire({
        role: 'subagent',
        tenantId: `tenant-${index % 3}`,
        estimatedTokens: job.estimatedTokens,
      });
    } catch (error) {
      if (error instanceof LimiterTimeoutError && error.reason === 'throttled') out.throttleFailures += 1;
      else out.failures.push(String(error));
      return;
    }
    const at = Date.now();
    if (at >= start.endAt) {
      // Granted after the end: no call.
      await limiter.release(lease, { kind: 'rejected' });
      return;
    }
    await sleep(low + Math.random() * (high - low));
    const tokens = job.minTokens + Math.floor(Math.random() * (job.estimatedTokens - job.minTokens + 1));
    const releasedAt = Date.now();
    await limiter.release(lease, { kind: 'success', tokens });
    out.grants.push([at, releasedAt, lease.waitedMs + lease.limiterMs]); // from asking to the grant
  }
}

const job = workerData as LimiterBenchJob;
const out: LimiterBenchOutcome = {
  grants: [],
  reads: [],
  writes: [],
  throttledRequests: 0,
  roundTrips: [],
  throttleFailures: 0,
  failures: [],
};
parentPort!.once('message', async (start: LimiterBenchStart) => {
  await Promise.all(
    Array.from({ length: job.clients }, (_, i) => runClient(job.firstClient + i, job, start, out)),
  );
  parentPort!.postMessage(out);
});
parentPort!.postMessage('ready');
