/**
 * What a job costs on AWS, beside its tokens: the state transitions, Lambda GB-seconds and
 * requests, DynamoDB request units and S3 requests it used, priced from a table (public us-east-1
 * prices by default, overridable with `PARL_AWS_PRICES`).
 *
 * The counts come from the job's own records (its step records, sub-agents, subtasks, stages and
 * Map mode) and the workflow's shape: every state a job enters is one transition; a function is
 * billed for its time, waiting included (a sub-agent's model calls and its limiter waits, with a
 * fixed share per invocation for its table round trips); the table's units are counted per
 * operation the code makes ({@link TABLE_UNITS}, items under 1 KB written and 4 KB read). They are
 * an estimate the size of the real bill, not the bill: CloudWatch, X-Ray, logs, the API Gateway
 * request and data transfer are left out.
 */

/** What the cost model reads of a step record (`StepRecord`). */
export interface BilledStep {
  role: 'main' | 'sub';
  agentId: string;
  durationMs: number;
  waitedMs?: number;
  limiterMs?: number;
}

/** What one job used on AWS. */
export interface AwsUsage {
  stateTransitions: number;
  lambdaRequests: number;
  lambdaGbSeconds: number;
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  s3PutRequests: number;
  s3GetRequests: number;
}

/** Prices in USD per unit (not per thousand or million). */
export interface AwsPrices {
  stateTransition: number;
  lambdaRequest: number;
  lambdaGbSecond: number;
  dynamoWriteUnit: number;
  dynamoReadUnit: number;
  s3PutRequest: number;
  s3GetRequest: number;
}

/**
 * Public us-east-1 prices: Step Functions Standard $0.025 per 1,000 transitions; Lambda arm64
 * $0.0000133334 per GB-second and $0.20 per million requests; DynamoDB on demand $0.625 per million
 * write and $0.125 per million read request units; S3 Standard $0.005 per 1,000 PUT and $0.0004 per
 * 1,000 GET requests. Free tiers are not subtracted.
 */
export const US_EAST_1_PRICES: AwsPrices = {
  stateTransition: 0.025 / 1000,
  lambdaRequest: 0.2 / 1_000_000,
  lambdaGbSecond: 0.0000133334,
  dynamoWriteUnit: 0.625 / 1_000_000,
  dynamoReadUnit: 0.125 / 1_000_000,
  s3PutRequest: 0.005 / 1000,
  s3GetRequest: 0.0004 / 1000,
};

/** Memory of the functions (MB): one definition for the CDK app and the cost model. */
export const FUNCTION_MEMORY_MB = {
  plan: 512,
  subagent: 512,
  aggregate: 1024,
  api: 512,
  authorizer: 256,
} as const;

/**
 * Billed time per invocation besides model calls (its table round trips, start-up of a warm
 * function), in milliseconds: a measured order of size, not a bound.
 */
export const INVOCATION_OVERHEAD_MS = { plan: 300, subagent: 150, aggregate: 500, api: 100, authorizer: 50 };

/**
 * Request units per operation of a job, from what the code does (transactions count twice):
 * - `accept`: idempotency claim, job item, reservation (a transaction over two items), and the
 *   shares of its 16 budget shards (one BatchWriteItem of 16 puts)
 * - `perSubtask`: its item at accept, its read by the sub-agent and by Aggregate (its result rides in
 *   its sub-agent's record, one item either way)
 * - `perBatchedResult`: the result of a subtask before a batched sub-agent's last, an item of its own
 * - `perModelCall`: its step record, the ledger's authorize and complete (transactions), the
 *   limiter's ticket, slot claim and release (about 3 writes, 1 read: `npm run bench -- --suite limiter`)
 * - `perSubagent`: attempt counter and agent record; job read
 * - `perStage`: Plan or next-stage planning, plan update, Aggregate's reads of steps, results, agents
 * - `close`: the finished job, settlement (budget, tenant, usage, its 16 budget shards closed),
 *   policy update
 */
export const TABLE_UNITS = {
  accept: { write: 20, read: 1 },
  perSubtask: { write: 1, read: 1 },
  perBatchedResult: { write: 1, read: 0 },
  perModelCall: { write: 8, read: 1 },
  perSubagent: { write: 2, read: 1 },
  perStage: { write: 2, read: 3 },
  close: { write: 24, read: 3 },
} as const;

/** What the cost model reads of a job. */
export interface JobShape {
  steps: readonly BilledStep[];
  /** Sub-agents spawned over all stages, and how many of them failed (a failure is one more state). */
  subagents: number;
  failedSubagents: number;
  subtasks: number;
  stages: number;
  /** Stages whose Map ran distributed (one item list put, one read by the ItemReader each). */
  distributedStages: number;
  /** Whether the shared limiter was on (its table operations). */
  limiter: boolean;
}

/** States per job and per stage, from the workflow (`cdk/state-machine.ts`). */
const TRANSITIONS = {
  // Plan, and the terminal JobSucceeded / JobFailed
  perJob: 2,
  // ChooseFanOut, the Map, Aggregate, JobOutcome
  perStage: 4,
  // RunSubagent; a failed one also SubagentFailed (a task that records it)
  perSubagent: 1,
} as const;

/**
 * Counts what a job used (see the module's header for what is counted and how).
 *
 * @example
 * awsUsageOf({ steps, subagents: 100, failedSubagents: 0, subtasks: 100, stages: 1, distributedStages: 1, limiter: true });
 */
export function awsUsageOf(job: JobShape): AwsUsage {
  // A function is billed while its model calls run and while they wait (limiter, backoff).
  const billedMs = (of: (s: BilledStep) => boolean) =>
    job.steps.filter(of).reduce((ms, s) => ms + s.durationMs + (s.waitedMs ?? 0) + (s.limiterMs ?? 0), 0);
  const planner = (s: BilledStep) => s.role === 'main' && s.agentId === 'planner';
  const seconds = {
    plan: (billedMs(planner) + INVOCATION_OVERHEAD_MS.plan) / 1000,
    subagent: (billedMs((s) => s.role === 'sub') + job.subagents * INVOCATION_OVERHEAD_MS.subagent) / 1000,
    aggregate:
      (billedMs((s) => s.role === 'main' && !planner(s)) + job.stages * INVOCATION_OVERHEAD_MS.aggregate) /
      1000,
  };
  const gb = (mb: number) => mb / 1024;
  const lambdaGbSeconds =
    seconds.plan * gb(FUNCTION_MEMORY_MB.plan) +
    (seconds.subagent + (job.failedSubagents * INVOCATION_OVERHEAD_MS.subagent) / 1000) *
      gb(FUNCTION_MEMORY_MB.subagent) +
    seconds.aggregate * gb(FUNCTION_MEMORY_MB.aggregate) +
    (INVOCATION_OVERHEAD_MS.api / 1000) * gb(FUNCTION_MEMORY_MB.api) +
    (INVOCATION_OVERHEAD_MS.authorizer / 1000) * gb(FUNCTION_MEMORY_MB.authorizer);
  const calls = job.steps.length;
  const units = (kind: 'write' | 'read') =>
    TABLE_UNITS.accept[kind] +
    job.subtasks * TABLE_UNITS.perSubtask[kind] +
    Math.max(0, job.subtasks - job.subagents) * TABLE_UNITS.perBatchedResult[kind] +
    calls * (TABLE_UNITS.perModelCall[kind] - (job.limiter ? 0 : limiterUnits[kind])) +
    job.subagents * TABLE_UNITS.perSubagent[kind] +
    job.stages * TABLE_UNITS.perStage[kind] +
    TABLE_UNITS.close[kind];
  return {
    stateTransitions:
      TRANSITIONS.perJob +
      job.stages * TRANSITIONS.perStage +
      job.subagents * TRANSITIONS.perSubagent +
      job.failedSubagents,
    // api, authorizer, plan, each sub-agent (a failed one twice: SubagentFailed records it), each stage's Aggregate
    lambdaRequests: 3 + job.subagents + job.failedSubagents + job.stages,
    lambdaGbSeconds: round(lambdaGbSeconds, 6),
    dynamoWriteUnits: units('write'),
    dynamoReadUnits: units('read'),
    // a distributed stage: its item list, and the ResultWriter's manifest and results file
    s3PutRequests: job.distributedStages * S3_PUTS_PER_DISTRIBUTED_STAGE,
    s3GetRequests: job.distributedStages,
  };
}

/** S3 puts of a distributed stage: the plan's item list, the ResultWriter's manifest and results file. */
const S3_PUTS_PER_DISTRIBUTED_STAGE = 3;

/** The limiter's part of {@link TABLE_UNITS.perModelCall}. */
const limiterUnits = { write: 3, read: 1 } as const;

/** The price of what a job used, in USD (rounded to 1e-8). */
export function awsCostUsd(usage: AwsUsage, prices: AwsPrices = US_EAST_1_PRICES): number {
  return round(
    usage.stateTransitions * prices.stateTransition +
      usage.lambdaRequests * prices.lambdaRequest +
      usage.lambdaGbSeconds * prices.lambdaGbSecond +
      usage.dynamoWriteUnits * prices.dynamoWriteUnit +
      usage.dynamoReadUnits * prices.dynamoReadUnit +
      usage.s3PutRequests * prices.s3PutRequest +
      usage.s3GetRequests * prices.s3GetRequest,
    8,
  );
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
