/**
 * The bench suites by name, each with what it measures and its options: `bench/run.ts` refuses an
 * option its suite does not list, and `--help` prints this table. A new suite adds one entry here
 * and one file in this folder.
 */
import { type BenchSuite, COMMON_OPTIONS } from '../common';
import { abSuite } from './ab';
import { batchSuite } from './batch';
import { dashboardSuite } from './dashboard';
import { fuzzSuite } from './fuzz';
import { learningSuite } from './learning';
import { limiterSuite } from './limiter';
import { limitsSuite } from './limits';
import { loadSuite } from './load';
import { peersSuite } from './peers';
import { pipelineSuite } from './pipeline';
import { sdkSuite } from './sdk';
import { sweepSuite } from './sweep';
import { toggleSuite } from './toggle';

const SEED = 'N seed of the demo data and the simulator (default 1)';

export const SUITES: Record<string, BenchSuite> = {
  pipeline: {
    about: 'the demo job, sequential and parl, side by side (medians)',
    options: {
      reps: 'N runs per mode (default 3)',
      installations: 'N installations in the demo (default 100)',
      'latency-scale': 'X simulator latency multiplier (default 0.25)',
      seed: SEED,
    },
    run: pipelineSuite,
  },
  ab: {
    about: 'A/B over many paired runs: PARL vs sequential, or TOGGLE on vs off; tests and CIs',
    options: {
      compare: 'modes|toggle what the two arms are (default modes: sequential vs parl)',
      runs: 'N pairs, one seed each (default 100)',
      installations: 'N installations per job (default 10)',
      'latency-scale': 'X simulator latency multiplier (default 0.2)',
      seed: 'N seed of the first pair; pair i uses seed + i (default 1)',
      resamples: 'N bootstrap resamples (default 10000)',
    },
    run: abSuite,
  },
  sweep: {
    about: 'one job of 1,000 subtasks at 1, 10, 50, 100 and 1,000 sub-agents: speedups, overhead, cost',
    options: {
      subtasks: 'N subtasks in the job (default 1000)',
      widths: 'a,b,… the widths (default 1,10,50,100,1000)',
      'latency-scale': 'X simulator latency multiplier (default 0.5)',
      seed: SEED,
    },
    run: sweepSuite,
  },
  peers: {
    about: 'the same fan-out through PARL Swarm, LangGraph.js (Send) and Promise.all + p-limit',
    options: {
      subtasks: 'N subtasks, one model call each (default 200)',
      concurrency: 'N at once in every framework (default 50)',
      widths: 'a,b,… several fan-outs in one run, each N subtasks N at once (instead of the two above)',
      reps: 'N runs per framework (default 3)',
      warmup: 'N unmeasured rounds of every framework first (default 1)',
      'latency-scale': 'X simulator latency multiplier (default 1)',
      seed: SEED,
    },
    run: peersSuite,
  },
  sdk: {
    about: 'what one small DynamoDB request costs the sending thread, through the SDK and the client factory',
    options: {
      requests: 'N GetItems per client and round, one after another (default 10000)',
      rounds: 'N rounds; the clients take turns (default 3)',
    },
    run: sdkSuite,
  },
  learning: {
    about: 'the fan-out policy learning from scratch against every fixed arm',
    options: {
      jobs: 'N learning jobs (default 40)',
      reps: 'N runs per fixed arm (default 3)',
      installations: 'N installations per job (default 16)',
      'max-in-flight': 'N requests the provider allows at once (default 4)',
      'latency-scale': 'X simulator latency multiplier (default 2)',
      'max-wait-ms': 'MS how long a call retries 429s (default 1500)',
      seed: SEED,
    },
    run: learningSuite,
  },
  toggle: {
    about: 'TOGGLE: jobs without and with the reduced output budget, plus a too-small budget',
    options: {
      jobs: 'N jobs per run (default 30)',
      installations: 'N installations per job (default 40)',
      'latency-scale': 'X simulator latency multiplier (default 0.02)',
      seed: SEED,
      'small-budget': 'N the too-small output budget (default 400)',
    },
    run: toggleSuite,
  },
  limits: {
    about: "the demo's sub-agents against a provider with limits, through the shared limiter",
    options: {
      installations: 'N installations (default 100)',
      'window-ms': 'MS the limits\' "minute" (default 60000)',
      'tier0-window-ms': 'MS the tier-0 "minute" (default 600)',
      'latency-scale': 'X simulator latency multiplier (default 1)',
      seed: SEED,
      scenarios: 'a,b,… of seed-key, tier0, unknown (default all)',
    },
    run: limitsSuite,
  },
  limiter: {
    about: 'N independent limiter clients against the local table',
    options: {
      clients: 'N,M,… client counts (default 100,1000)',
      scenarios: 'a,b,… of tier1, seed-key, tier5 (default all)',
      workers: 'N worker threads (default 4)',
      windows: 'N windows measured (default per scenario)',
      tokens: 'N tokens a call estimates (default 100)',
      'tier1-window-ms': 'MS tier 1\'s "minute"',
      'seed-key-window-ms': 'MS seed-key\'s "minute"',
      'tier5-window-ms': 'MS tier 5\'s "minute"',
    },
    run: limiterSuite,
  },
  batch: {
    about: 'an uploaded JSONL file going the whole batch path to a stored result',
    options: {
      subtasks: 'N subtasks in the file (default 1000)',
      reps: 'N runs (default 3)',
      'latency-scale': 'X simulator latency multiplier (default 0)',
      'max-subagents': 'N sub-agents at once (default 100)',
      seed: SEED,
    },
    run: batchSuite,
  },
  load: {
    about:
      'jobs of 1,000, 10,000 and 50,000 one-call sub-agents: wall-clock, rate, peak RSS, records, DynamoDB requests',
    options: {
      sizes: 'a,b,… sub-agents per job, one job each (default 1000,10000,50000)',
      'latency-scale': 'X simulator latency multiplier (default 0)',
      'max-subagents': 'N sub-agents at once (default 1000)',
      limiter: 'on|off the shared limiter (default on)',
      repeat: 'N jobs per size in its process: the first fresh, the rest on the warm stack (default 1)',
      seed: SEED,
    },
    run: loadSuite,
  },
  fuzz: {
    about: 'random and hostile API request sequences from two tenants: no 5xx, named 4xx, money conserved',
    options: {
      runs: 'N sequences (default 200)',
      seed: 'N fast-check seed, also the simulator seed (default 14)',
      'max-length': 'N requests per sequence at most (default 12)',
    },
    run: fuzzSuite,
  },
  dashboard: {
    about: "a 1,000-sub-agent job's page in headless Chromium: navigation → timeline drawn",
    options: {
      installations: 'N sub-agents (one installation each) in the job (default 1000)',
      reps: 'N page loads (default 5)',
    },
    run: dashboardSuite,
  },
};

const optionLines = (options: Record<string, string>): string[] =>
  Object.entries(options).map(([name, help]) => {
    const [value, ...rest] = help.split(' ');
    const takesValue = /^([A-Z]+|<[^>]+>|[a-z,|…]+[|,][a-z,|…]*)$/.test(value ?? '');
    const left = takesValue ? `--${name} ${value}` : `--${name}`;
    return `    ${left.padEnd(30)} ${takesValue ? rest.join(' ') : help}`;
  });

/** The help text: every suite, or only `suite` when it is one. */
export function suitesHelp(suite?: string): string {
  const names = suite && SUITES[suite] ? [suite] : Object.keys(SUITES);
  const lines = [
    'npm run bench -- --suite <name> [options]: one benchmark on the embedded stack; JSON in bench/results/',
    '',
    'Options of every suite:',
    ...optionLines(COMMON_OPTIONS),
  ];
  for (const name of names) {
    lines.push('', `--suite ${name}: ${SUITES[name]!.about}`, ...optionLines(SUITES[name]!.options));
  }
  lines.push(
    '',
    'An option the suite does not list is refused (exit code 2); timings are never test assertions.',
  );
  return lines.join('\n');
}
