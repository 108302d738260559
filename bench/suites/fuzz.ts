/**
 * The `fuzz` suite: the API fuzzer (../fuzz/api-fuzz.ts) with many more sequences than `npm test`
 * runs, against the REST API over HTTP on loopback in front of the embedded stack.
 *
 *   npm run bench -- --suite fuzz [--runs 200] [--seed 14] [--max-length 12]
 *
 * Prints and saves the number of sequences tried, the requests sent, the answers by status, and
 * the counterexample (shrunk, with its seed and path) if a property broke.
 */
import fc from 'fast-check';
import { startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { type BenchArgs, numberArg, printTable, saveResult } from '../common';
import { fuzzSequence, playSequence, type SequenceOutcome } from '../fuzz/api-fuzz';

export async function fuzzSuite(args: BenchArgs): Promise<void> {
  const runs = numberArg(args, 'runs', 200);
  const seed = numberArg(args, 'seed', 14);
  const maxLength = numberArg(args, 'max-length', 12);
  const stack = await EmbeddedStack.boot({ simulator: { seed, latencyScale: 0.02 }, sfnEndpoint: true });
  const api = await startLocalApi(stack);
  const totals: SequenceOutcome = { requests: 0, statuses: {} };
  const started = Date.now();
  try {
    const details = await fc.check(
      fc.asyncProperty(fuzzSequence(maxLength), async (requests) => {
        const out = await playSequence({ stack, url: api.url }, requests);
        totals.requests += out.requests;
        for (const [status, n] of Object.entries(out.statuses))
          totals.statuses[status] = (totals.statuses[status] ?? 0) + n;
      }),
      { seed, numRuns: runs, endOnFailure: true },
    );
    const seconds = (Date.now() - started) / 1000;
    const failure = details.failed ? String(details.errorInstance ?? 'failed') : undefined;
    console.log(
      `fuzz: ${details.numRuns} sequences tried (seed ${seed}), ${totals.requests} requests in ${seconds.toFixed(0)} s`,
    );
    printTable([
      ['status', 'answers'],
      ...Object.entries(totals.statuses)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, n]) => [status, String(n)]),
    ]);
    if (failure)
      console.log(
        `property broken: ${failure}\ncounterexample: ${JSON.stringify(details.counterexample)}\npath: ${details.counterexamplePath}`,
      );
    else console.log('every property held');
    const result = {
      at: new Date().toISOString(),
      seed,
      runsAsked: runs,
      sequencesTried: details.numRuns,
      maxLength,
      requests: totals.requests,
      statuses: totals.statuses,
      seconds,
      ...(failure
        ? { failure, counterexample: details.counterexample, path: details.counterexamplePath }
        : {}),
    };
    saveResult(args, 'fuzz', result);
    if (failure) process.exitCode = 1;
  } finally {
    await api.close();
    await stack.close();
  }
}
