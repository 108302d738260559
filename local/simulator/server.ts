/**
 * The built-in Moonshot simulator: an OpenAI-compatible HTTP server on loopback that plays the
 * Moonshot/Kimi API for the local runtime and the tests, with only `node:http`.
 *
 * It reads each request the way a model would (see `./model`), answers deterministically from a
 * hash of (seed, content), charges tokens like the real API (including the context-cache
 * discount), waits a modelled latency, and fails on demand (fault rules). The chat endpoint is
 * `./chat.ts`; this file starts the server, routes, and keeps the counters.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ChatCounters,
  type ChatState,
  chatCompletion,
  DEFAULT_LATENCY,
  type LatencyModel,
} from './chat';
import { type FaultRule, FaultRules } from './faults';
import { errorBody, sendJson } from './http';
import { type ChaosOptions, type GateStats, ProviderGate, type SimulatedLimits } from './provider';
import type { ReasoningModel } from './reasoning';

export type { FaultRule, LatencyModel };
export { DEFAULT_LATENCY };

/** How to start the simulator; every field has a default. */
export interface SimulatorOptions {
  /** Interface to listen on; 127.0.0.1 by default. */
  host?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** Seed of every deterministic choice (default 1). */
  seed?: number;
  /** Multiplies every delay (default 1); 0 answers at once. */
  latencyScale?: number;
  /** Overrides parts of DEFAULT_LATENCY. */
  latency?: Partial<LatencyModel>;
  /**
   * Keep the latency modelled for each request ({@link Simulator.modelledLatencies}; default
   * false): a bench's bound. Off, a long-running simulator keeps nothing per request.
   */
  recordLatencies?: boolean;
  /** Share of BMA verdicts the model gets wrong, 0..1 (default 0). */
  verdictErrorRate?: number;
  faults?: FaultRule[];
  /** The model id served by `/v1/models` and reported when a request names none (default 'kimi-k2.5'). */
  model?: string;
  /** When set, requests with another bearer key get 401. */
  apiKey?: string;
  /** A thinking model: sub-agents reason up to their output budget (see `./simulator/reasoning`). Off by default. */
  reasoning?: ReasoningModel;
  /** Limits enforced with Moonshot's 429 bodies (none by default). */
  limits?: SimulatedLimits;
  /** Faults at configured rates (none by default). */
  chaos?: ChaosOptions;
}

export type { ChaosOptions, SimulatedLimits };

/**
 * Counters since start (or the last `resetStats()`). `requests` counts every HTTP request; tokens
 * count only successful chat completions: exactly the `usage` handed out.
 */
export interface SimulatorStats {
  requests: number;
  succeeded: number;
  failed: number;
  inFlight: number;
  maxInFlight: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  byStatus: Record<string, number>;
}

/** What the provider-limits side of the simulator saw since start (or the last `resetStats()`). */
export interface ProviderStats {
  /** Chat completion requests (POST), whatever their outcome. */
  chatRequests: number;
  /** The limits' view: 429s it answered, admitted requests, in flight, most requests in one window. */
  limits: GateStats;
  /** Faults injected at the configured rates. */
  injected: ChatCounters['injected'];
}

/** A running simulator. */
export interface Simulator {
  /** The OpenAI-style base URL, e.g. `http://127.0.0.1:41234/v1`. */
  baseUrl: string;
  port: number;
  stats(): SimulatorStats;
  /** Limits and injected faults: 429s, max in flight, requests per window, faults. */
  providerStats(): ProviderStats;
  /** The latency modelled for each chat request since the start (or the last reset), in order; empty unless `recordLatencies`. */
  modelledLatencies(): number[];
  resetStats(): void;
  /** Replaces the fault rules (and their remaining `times`). */
  setFaults(faults: FaultRule[]): void;
  /** Replaces the enforced limits. */
  setLimits(limits: SimulatedLimits): void;
  /** Replaces the fault rates. */
  setChaos(chaos: ChaosOptions): void;
  /** Stops listening and drops open connections and pending delays. */
  close(): Promise<void>;
}

type Counters = Omit<SimulatorStats, 'inFlight' | 'maxInFlight'> & ChatCounters;

const emptyCounters = (): Counters => ({
  chatRequests: 0,
  injected: { 'server-error': 0, timeout: 0, slow: 0, truncated: 0, 'non-json': 0 },
  requests: 0,
  succeeded: 0,
  failed: 0,
  promptTokens: 0,
  completionTokens: 0,
  cachedTokens: 0,
  byStatus: {},
  modelledMs: [],
});

/** The simulator's state: what the chat endpoint reads, with every counter. */
interface SimulatorState extends ChatState {
  counters: Counters;
  /** In flight survives resetStats(): those requests are still running. */
  inFlight: number;
  maxInFlight: number;
}

function stateOf(opts: SimulatorOptions, closing: AbortSignal): SimulatorState {
  const latency: LatencyModel = { ...DEFAULT_LATENCY, ...opts.latency };
  return {
    seed: opts.seed ?? 1,
    verdictErrorRate: opts.verdictErrorRate ?? 0,
    model: opts.model ?? 'kimi-k2.5',
    apiKey: opts.apiKey,
    reasoning: opts.reasoning,
    latency: { ...latency, jitter: Math.min(1, Math.max(0, latency.jitter)) },
    latencyScale: Math.max(0, opts.latencyScale ?? 1),
    recordLatencies: opts.recordLatencies === true,
    closing,
    gate: new ProviderGate(opts.limits ?? {}),
    faults: new FaultRules(opts.faults ?? []),
    chaos: { ...opts.chaos },
    chatSerial: 0,
    counters: emptyCounters(),
    inFlight: 0,
    maxInFlight: 0,
  };
}

/** Counts a request once, however it ends (answered, failed, or dropped by the client), and routes it. */
function handle(sim: SimulatorState, req: IncomingMessage, res: ServerResponse): void {
  sim.counters.requests += 1;
  sim.inFlight += 1;
  sim.maxInFlight = Math.max(sim.maxInFlight, sim.inFlight);
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    sim.inFlight -= 1;
    const status = String(res.headersSent ? res.statusCode : 499);
    sim.counters.byStatus[status] = (sim.counters.byStatus[status] ?? 0) + 1;
    if (status === '200') sim.counters.succeeded += 1;
    else sim.counters.failed += 1;
  };
  res.once('finish', finish);
  res.once('close', finish);
  route(sim, req, res).catch((error: unknown) => {
    sendJson(
      res,
      500,
      errorBody(500, `simulator error: ${error instanceof Error ? error.message : String(error)}`),
    );
  });
}

async function route(sim: SimulatorState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://simulator').pathname.replace(/\/+$/, '');
  if (req.method === 'GET' && path === '/v1/models') {
    sendJson(res, 200, { object: 'list', data: [{ id: sim.model, object: 'model', owned_by: 'moonshot' }] });
    return;
  }
  if (req.method === 'POST' && path === '/v1/chat/completions') {
    sim.counters.chatRequests += 1;
    await chatCompletion(sim, req, res);
    return;
  }
  sendJson(res, 404, errorBody(404, `Not found: ${req.method} ${path || '/'}`));
}

/**
 * Starts the simulator on loopback and resolves once it listens.
 *
 * @example
 * const sim = await startSimulator({ latencyScale: 0 });
 * const client = new OpenAI({ baseURL: sim.baseUrl, apiKey: 'any' });
 * // …
 * await sim.close();
 */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const host = opts.host ?? '127.0.0.1';
  const closing = new AbortController();
  const sim = stateOf(opts, closing.signal);
  const server = createServer((req, res) => handle(sim, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    baseUrl: `http://${urlHost}:${port}/v1`,
    port,
    providerStats: () => ({
      chatRequests: sim.counters.chatRequests,
      injected: { ...sim.counters.injected },
      limits: sim.gate.stats(),
    }),
    stats: () => statsOf(sim),
    modelledLatencies: () => [...sim.counters.modelledMs],
    resetStats: () => {
      sim.counters = emptyCounters();
      sim.maxInFlight = sim.inFlight;
      sim.gate.resetStats();
    },
    setFaults: (rules) => sim.faults.set(rules),
    setLimits: (limits) => sim.gate.setLimits(limits),
    setChaos: (next) => {
      sim.chaos = { ...next };
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function statsOf(sim: SimulatorState): SimulatorStats {
  const { counters } = sim;
  return {
    requests: counters.requests,
    succeeded: counters.succeeded,
    failed: counters.failed,
    inFlight: sim.inFlight,
    maxInFlight: sim.maxInFlight,
    promptTokens: counters.promptTokens,
    completionTokens: counters.completionTokens,
    cachedTokens: counters.cachedTokens,
    byStatus: { ...counters.byStatus },
  };
}
