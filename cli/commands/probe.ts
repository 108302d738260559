/**
 * `parl probe [--provider … --base-url … --model …] [--requests 100] [--concurrency 100]`: fires
 * bounded parallel chat requests at an OpenAI-compatible endpoint (Moonshot, Ollama, any other; the
 * built-in simulator when none is named) and reports latency p50/p95/p99, time to first token (when
 * the endpoint streams), tokens per second, 429s and 5xx, and the width it recommends for
 * `--max-subagents` with that key.
 */
import { intFlag, numberFlag, parseFlags, UsageError } from '#cli/flags';
import { PROVIDER_FLAG_OPTIONS, parseProviderFlags } from '#cli/provider-flags';
import { startSimulator } from '#local/simulator/server';
import { type ProbeSummary, type ProbeTarget, probeOnce, runProbe, summarizeProbe } from './probe-measure';

export const PROBE_HELP = `parl probe: bounded parallel requests against a model endpoint, before choosing --max-subagents

Usage: parl probe [--provider NAME] [--base-url URL] [--model NAME] [--requests N] [--concurrency N]
                  [--max-tokens N] [--prompt TEXT] [--latency-scale X] [--json]

  --provider, --base-url, --model   the endpoint, as for parl run (MOONSHOT_API_KEY is the key;
                             without an endpoint the built-in simulator is probed)
  --max-concurrency N, --tier NAME  limits the simulator enforces (simulator only)
  --requests N               requests in all (default 100)
  --concurrency N            at most N in flight (default 100)
  --max-tokens N             max_tokens of each request (default 64)
  --prompt TEXT              the user message (default: a short question)
  --latency-scale X          the simulator's latency multiplier (default 1)
  --json                     one JSON document on stdout

Time to first token needs a streaming endpoint; when the endpoint refuses \`stream\` the probe says
so and reports the whole latency only. Exit codes: 0 done, 1 no request succeeded, 2 bad input.`;

const DEFAULT_PROMPT = 'In one sentence: why do agent swarms run sub-agents in parallel?';

interface ProbeOptions {
  requests: number;
  concurrency: number;
  maxTokens: number;
  prompt: string;
  latencyScale: number;
  json: boolean;
}

function parseProbeArgs(argv: string[]) {
  const { values, str } = parseFlags(argv, {
    requests: { type: 'string' },
    concurrency: { type: 'string' },
    'max-tokens': { type: 'string' },
    prompt: { type: 'string' },
    'latency-scale': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...PROVIDER_FLAG_OPTIONS,
  });
  const provider = parseProviderFlags(str);
  const prompt = str('prompt') ?? DEFAULT_PROMPT;
  if (prompt.trim() === '') throw new UsageError('--prompt must not be empty');
  const options: ProbeOptions = {
    requests: intFlag('requests', str('requests'), 1, 100_000) ?? 100,
    concurrency: intFlag('concurrency', str('concurrency'), 1, 10_000) ?? 100,
    maxTokens: intFlag('max-tokens', str('max-tokens'), 1, 32_768) ?? 64,
    prompt,
    latencyScale: numberFlag('latency-scale', str('latency-scale'), 0, 100) ?? 1,
    json: values.json === true,
  };
  return { help: values.help === true, provider, options };
}

/** Whether the endpoint streams: one unmeasured streamed request (a 400 naming `stream` means no). */
async function streams(target: ProbeTarget): Promise<boolean> {
  const sample = await probeOnce({ ...target, stream: true, maxTokens: 8 }, -1, 0, Date.now());
  if (sample.status >= 200 && sample.status < 300) return true;
  if (sample.status === 400 && /stream/i.test(sample.error ?? '')) return false;
  throw new Error(
    `the endpoint ${target.baseUrl} answered ${sample.status === 0 ? 'nothing' : sample.status}: ${sample.error ?? ''}`.trim(),
  );
}

const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v).toLocaleString('en-US')} ms`);

/** The text report. */
export function probeText(endpoint: string, model: string, s: ProbeSummary): string {
  return [
    `probe ${endpoint} · ${model} · ${s.requests} requests, ${s.concurrency} at once · ${(s.wallMs / 1000).toFixed(1)} s`,
    `  answered    ${s.ok} ok · ${s.rateLimited} × 429 · ${s.serverErrors} × 5xx · ${s.otherErrors} other errors`,
    `  latency     p50 ${ms(s.latencyMs.p50)} · p95 ${ms(s.latencyMs.p95)} · p99 ${ms(s.latencyMs.p99)}`,
    s.ttftMs
      ? `  first token p50 ${ms(s.ttftMs.p50)} · p95 ${ms(s.ttftMs.p95)} · p99 ${ms(s.ttftMs.p99)}`
      : '  first token not measured: the endpoint does not stream',
    `  tokens/s    ${s.tokensPerSecond.aggregate.toFixed(1)} in all · ${s.tokensPerSecond.perRequestMedian === null ? '–' : s.tokensPerSecond.perRequestMedian.toFixed(1)} per request (median)`,
    `  recommended --max-subagents ${s.recommendedWidth} (${s.why})`,
  ].join('\n');
}

/** `parl probe`: returns the exit code. */
export async function probeCommand(argv: string[]): Promise<number> {
  const { help, provider, options } = parseProbeArgs(argv);
  if (help) {
    process.stdout.write(`${PROBE_HELP}\n`);
    return 0;
  }
  const baseUrl = provider.baseUrl ?? process.env.MOONSHOT_BASE_URL;
  const real = baseUrl !== undefined || process.env.MOONSHOT_API_KEY !== undefined;
  const model = provider.model ?? process.env.MOONSHOT_MODEL ?? 'kimi-k2.5';
  const sim = real
    ? undefined
    : await startSimulator({ latencyScale: options.latencyScale, limits: provider.simulatorLimits });
  try {
    const target: ProbeTarget = {
      baseUrl: sim?.baseUrl ?? baseUrl ?? 'https://api.moonshot.ai/v1',
      apiKey: process.env.MOONSHOT_API_KEY ?? 'none',
      model,
      prompt: options.prompt,
      maxTokens: options.maxTokens,
      stream: false,
    };
    target.stream = await streams(target);
    const { samples, wallMs } = await runProbe(target, options.requests, options.concurrency);
    const summary = summarizeProbe(samples, options.concurrency, wallMs, target.stream);
    const endpoint = sim ? `the simulator (${sim.baseUrl})` : target.baseUrl;
    process.stdout.write(
      `${options.json ? JSON.stringify({ endpoint: target.baseUrl, simulator: !!sim, model, streamed: target.stream, ...summary, samples }, null, 2) : probeText(endpoint, model, summary)}\n`,
    );
    return summary.ok > 0 ? 0 : 1;
  } finally {
    await sim?.close();
  }
}
