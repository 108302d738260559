/** The fakes of the Aggregate step's tests: a job, its outcomes, and the stores and model it talks to. */
import type { PolicyState } from '#shared/domain/policy';
import type { StepRecord, Subtask } from '#shared/domain/types';
import type {
  AgentRecord,
  JobRecord,
  JobRef,
  JobStore,
  PlanPolicy,
  StepRecorder,
  SubtaskResult,
} from '#shared/ports/job-store';
import type { BudgetLedger } from '#shared/ports/ledger';
import type { ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';
import type { PolicyStore } from '#shared/ports/policy-store';
import type { AcquireOptions, LeaseReserver, ReservedLease } from '#shared/ports/rate-limiter';
import type { AggregateDeps } from '#shared/use-cases/aggregate-job';

export const REF: JobRef = { tenantId: 't1', jobId: 'j1' };
export const at = (ms: number) => new Date(Date.UTC(2026, 11, 3, 0, 0, 0, ms)).toISOString();
export const SUB_STEP: StepRecord = {
  stage: 1,
  role: 'sub',
  agentId: 'agent-0001',
  step: 1,
  attempt: 1,
  startedAt: at(100),
  endedAt: at(200),
  durationMs: 100,
  inputTokens: 100,
  outputTokens: 10,
  cachedInputTokens: 0,
  status: 'SUCCEEDED',
};
export const POLICY: PlanPolicy = {
  taskClass: 'bma',
  mode: 'learn',
  armId: 'w2-i1',
  width: 2,
  itemsPerAgent: 1,
  pinned: [],
};
export const job = (fields: Partial<JobRecord> = {}): JobRecord => ({
  ...REF,
  status: 'RUNNING',
  request: { task: 'check the contracts', mode: 'parl', workload: 'generic' } as JobRecord['request'],
  acceptedAt: at(0),
  ...fields,
});
export const agent = (agentId: string, status: AgentRecord['status'], error?: string): AgentRecord => ({
  stage: 1,
  agentId,
  status,
  attempt: 1,
  stepCount: 1,
  subtaskIds: [],
  ...(error ? { error } : {}),
});
export const answered = (subtaskId: string, fields: Partial<SubtaskResult> = {}): SubtaskResult => ({
  subtaskId,
  agentId: 'agent-0001',
  stage: 1,
  status: 'ANSWERED',
  ...fields,
});
export const response = (fields: Partial<ChatResponse> = {}): ChatResponse => ({
  content: 'All three contracts comply.',
  toolCalls: [],
  finishReason: 'stop',
  model: 'kimi-k2.5',
  usage: { inputTokens: 500, outputTokens: 50, cachedInputTokens: 0 },
  ...fields,
});

export interface WorldOptions {
  stored?: JobRecord;
  agents?: AgentRecord[];
  results?: SubtaskResult[];
  subtasks?: Subtask[];
  reply?: ChatResponse | { throws: unknown };
  /** A limiter that takes leases ahead: it grants one, or its reservation fails. */
  leases?: 'grants' | 'fails';
  /** A provider client that tells the caller when the request goes (as the OpenAI-compatible one does). */
  tellsSent?: boolean;
}

/** The stores, ledger, policy store and model of one aggregation, and what each was asked. */
export function world(opts: WorldOptions = {}) {
  const seen = {
    asked: [] as ChatRequest[],
    finished: [] as Parameters<JobStore['finishJob']>[1][],
    updates: [] as Partial<JobRecord>[],
    attempts: [] as unknown[][],
    recorded: [] as StepRecord[],
    agentsFinished: [] as [AgentRecord, unknown][],
    settled: [] as JobRef[],
    policyUpdates: [] as PolicyState[],
    reserved: [] as [AcquireOptions, number, number][],
    unreserved: [] as ReservedLease[],
    /** What the events happened in: the loads and the reservation, the synthesis call. */
    order: [] as string[],
  };
  const store = {
    getJob: () => {
      seen.order.push('getJob');
      return Promise.resolve(opts.stored);
    },
    listResults: () => Promise.resolve(opts.results ?? []),
    listSubtasks: () => Promise.resolve(opts.subtasks ?? []),
    updateJob: (_ref: JobRef, patch: Partial<JobRecord>) => {
      seen.updates.push(patch);
      return Promise.resolve();
    },
    finishJob: (_ref: JobRef, fields: Parameters<JobStore['finishJob']>[1]) => {
      seen.finished.push(fields);
      return Promise.resolve(true);
    },
  } as unknown as JobStore;
  const steps = {
    listAgents: () => Promise.resolve(opts.agents ?? []),
    listSteps: () => {
      seen.order.push('listSteps');
      return Promise.resolve([SUB_STEP, ...seen.recorded]);
    },
    listAgentSteps: (_ref: JobRef, stage: number, role: string, agentId: string) => {
      seen.order.push(`listAgentSteps ${stage} ${role} ${agentId}`);
      return Promise.resolve(
        seen.recorded.filter((s) => s.stage === stage && s.role === role && s.agentId === agentId),
      );
    },
    nextAttempt: (...args: unknown[]) => {
      seen.attempts.push(args.slice(1));
      return Promise.resolve(2);
    },
    recordStep: (_ref: JobRef, s: StepRecord) => {
      seen.recorded.push(s);
      return Promise.resolve();
    },
    finishAgent: (_ref: JobRef, a: AgentRecord, role: unknown) => {
      seen.agentsFinished.push([a, role]);
      return Promise.resolve();
    },
  } as unknown as StepRecorder;
  const ledger = {
    // Nothing authorized, so the model step completes nothing.
    authorizeCall: () => Promise.resolve(0),
    settle: (ref: JobRef) => {
      seen.settled.push({ tenantId: ref.tenantId, jobId: ref.jobId });
      return Promise.resolve();
    },
  } as unknown as BudgetLedger;
  let policyState: PolicyState | undefined;
  const policies: PolicyStore = {
    get: () => Promise.resolve(policyState),
    list: () => Promise.resolve(policyState ? [policyState] : []),
    update: (_t, _c, initial, change) => {
      policyState = change(policyState ?? initial());
      seen.policyUpdates.push(policyState);
      return Promise.resolve(policyState);
    },
  };
  const reply = opts.reply ?? response();
  const llm: LlmClient = {
    model: 'kimi-k2.5',
    chat: (request) => {
      seen.order.push('chat');
      seen.asked.push(request);
      if (opts.tellsSent) request.sent?.();
      seen.order.push('answer');
      return 'throws' in reply ? Promise.reject(reply.throws) : Promise.resolve(reply);
    },
  };
  const leases: LeaseReserver | undefined = opts.leases && {
    reserve: (options, count, withinMs) => {
      seen.order.push('reserve');
      seen.reserved.push([options, count, withinMs]);
      return opts.leases === 'fails'
        ? Promise.reject(new Error('the limiter table is unreachable'))
        : Promise.resolve([LEASE_AHEAD]);
    },
    unreserve: (lease) => {
      seen.unreserved.push(lease);
      return Promise.resolve();
    },
  };
  const deps: AggregateDeps = { store, steps, ledger, policies, llm, ...(leases ? { leases } : {}) };
  return { deps, seen };
}

/** A three-stage job after stage 1: one subtask answered, one sub-agent failed (a next stage is planned). */
export const NEXT_STAGE: WorldOptions = {
  stored: job({
    request: { task: 't', mode: 'parl', workload: 'generic', maxStages: 3 } as JobRecord['request'],
    plan: { stage: 1, agents: 2, maxConcurrency: 2, mapMode: 'INLINE', subtasks: 2, decomposedBy: 'request' },
  }),
  agents: [agent('agent-0001', 'SUCCEEDED'), agent('agent-0002', 'FAILED', 'timed out')],
  results: [answered('a')],
  subtasks: [
    { id: 'a', prompt: 'a' },
    { id: 'b', prompt: 'b' },
  ],
};

/** The lease a limiter of the world takes ahead. */
export const LEASE_AHEAD: ReservedLease = { id: 'lease-1', waitedMs: 0, limiterMs: 3, slot: 7 };

/** The user message of the synthesis call. */
export const userContent = (asked: ChatRequest[]) => asked[0]?.messages[1]?.content;
