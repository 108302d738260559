import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type LocalApi, startLocalApi } from '#local/emulators/api-gateway';
import { EmbeddedStack } from '#local/runtime';
import { fuzzSequence, playSequence } from '../../bench/fuzz/api-fuzz';

/** The fixed seed and bounded runs of `npm test`; `npm run bench -- --suite fuzz` runs many more. */
const FUZZ_SEED = 14;
const FUZZ_RUNS = 12;

describe('the REST API under random and hostile request sequences from two tenants (fast-check)', () => {
  let stack: EmbeddedStack;
  let api: LocalApi;

  beforeAll(async () => {
    stack = await EmbeddedStack.boot({ simulator: { seed: 14, latencyScale: 0.02 }, sfnEndpoint: true });
    api = await startLocalApi(stack);
  });
  afterAll(async () => {
    await api?.close();
    await stack?.close();
  });

  it('never answers 5xx, names the cause of every 4xx, keeps tenants apart, ends every job and conserves money', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzSequence(10), async (requests) => {
        await playSequence({ stack, url: api.url }, requests);
      }),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true },
    );
  }, 240_000);
});
