import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedStack } from '#local/runtime';
import { startSimulatorThread } from '#local/simulator/thread';
import { parseJobRequest } from '#shared/domain/request';

const run = promisify(execFile);

const chat = (baseUrl: string, content: string) =>
  fetch(`${baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer any' },
    body: JSON.stringify({ model: 'kimi-k2.5', messages: [{ role: 'user', content }] }),
  });

/** The simulator on a worker thread: the same endpoint, its counters asked for across the thread. */
describe('the simulator on its own thread', () => {
  it('answers chat completions, counts them, and keeps the latencies it modelled', async () => {
    const sim = await startSimulatorThread({ latencyScale: 0, recordLatencies: true, seed: 5 });
    try {
      const answers = await Promise.all([chat(sim.baseUrl, 'What is 1 + 1?'), chat(sim.baseUrl, 'hi')]);
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      const body = (await answers[0]!.json()) as { usage: { prompt_tokens: number } };
      const stats = await sim.stats();
      expect(stats).toMatchObject({ requests: 2, succeeded: 2, failed: 0, inFlight: 0 });
      expect(stats.promptTokens).toBeGreaterThanOrEqual(body.usage.prompt_tokens);
      const modelled = await sim.modelledLatencies();
      expect(modelled).toHaveLength(2);
      // From an index on: a caller reading them run by run is sent the new ones only.
      expect(await sim.modelledLatencies(1)).toEqual(modelled.slice(1));
      expect(await sim.modelledLatencies(2)).toEqual([]);
      expect(sim.baseUrl).toBe(`http://127.0.0.1:${sim.port}/v1`);
    } finally {
      await sim.close();
    }
    // Closed: the port is free again, and the counters can no longer be asked for.
    await expect(sim.stats()).rejects.toThrow('the simulator thread stopped');
    await expect(fetch(`${sim.baseUrl}/models`)).rejects.toThrow();
  });

  it('passes on why it could not start (a port already taken)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      await expect(startSimulatorThread({ port })).rejects.toThrow(/simulator: .*EADDRINUSE/);
    } finally {
      taken.close();
    }
  });

  it('starts in a process run by tsx with flags a worker may not take (the load bench: --expose-gc)', async () => {
    const script = `import('#local/simulator/thread').then(async ({ startSimulatorThread }) => {
      const sim = await startSimulatorThread({ latencyScale: 0 });
      const res = await fetch(sim.baseUrl + '/models');
      console.log(res.status);
      await sim.close();
    });`;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--expose-gc', '-e', script]);
    expect(stdout.trim()).toBe('200');
  });

  it('starts under `parl` run from any folder (tsx registered in-process, not on the command line)', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'parl-cwd-'));
    try {
      const bin = fileURLToPath(new URL('../../bin/parl.mjs', import.meta.url));
      const { stdout } = await run(
        process.execPath,
        [bin, 'run', '--installations', '3', '--max-subagents', '3', '--latency-scale', '0', '--json'],
        { cwd },
      );
      expect(JSON.parse(stdout)).toMatchObject({ status: 'SUCCEEDED', plan: { agents: 3 } });
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  describe('in the embedded stack (simulatorThread)', () => {
    let stack: EmbeddedStack;
    beforeAll(async () => {
      stack = await EmbeddedStack.boot({
        simulator: { seed: 6, latencyScale: 0 },
        simulatorThread: true,
      });
    });
    afterAll(async () => {
      await stack?.close();
    });

    it('runs a job against the threaded simulator and leaves no in-process one', async () => {
      const subtasks = [1, 2, 3].map((i) => ({
        id: `q${i}`,
        prompt: `What is ${i} + 100?`,
        expected: String(i + 100),
      }));
      const { job, steps } = await stack.run(
        parseJobRequest({ task: 'Sums', subtasks }, { maxSubagentsCap: 1000 }),
      );
      expect(job.status).toBe('SUCCEEDED');
      expect(stack.simulator).toBeUndefined();
      expect(stack.simulatorUrl).toBe(stack.simulatorThread?.baseUrl);
      // Three sub-agents and the synthesizer, a step a call, every call answered by the thread.
      expect(steps).toHaveLength(4);
      expect((await stack.simulatorThread!.stats()).succeeded).toBe(steps.length);
    });
  });
});
