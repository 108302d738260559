import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createMetrics, ObservedLlm, publishMetrics, tracer } from '#shared/adapters/telemetry';
import { CircuitOpenError } from '#shared/domain/errors';
import {
  JOB_METRICS,
  jobMetricPoints,
  METRICS_NAMESPACE,
  PROVIDER_METRICS,
} from '#shared/domain/swarm-metrics';
import type { JobMetrics } from '#shared/domain/types';
import type { CallStats, ChatRequest, ChatResponse, LlmClient } from '#shared/ports/llm';
import { captureEmf, lambdaTelemetry } from '../integration/emf.ts';

const context = { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 1_000 } as Context;
const ask: ChatRequest = {
  messages: [{ role: 'user', content: 'hi' }],
  caller: { role: 'subagent', tenantId: 't' },
};

/** A model client that answers, or fails, with the call statistics a retrying client attaches. */
function clientWith(stats: CallStats, fail?: Error): LlmClient {
  return {
    model: 'kimi-k2.5',
    chat: () =>
      fail
        ? Promise.reject(Object.assign(fail, { callStats: stats }))
        : Promise.resolve({
            content: 'ok',
            toolCalls: [],
            finishReason: 'stop',
            model: 'kimi-k2.5',
            usage: { inputTokens: 3, outputTokens: 1, cachedInputTokens: 0 },
            callStats: stats,
          } satisfies ChatResponse),
  };
}

describe('createMetrics', () => {
  it('writes nothing outside Lambda, and leaves the environment as it found it', async () => {
    // Prepare
    const metrics = createMetrics({});
    // Act
    const documents = await captureEmf(() => {
      metrics.addMetric('Anything', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    });
    // Assess
    expect(documents).toEqual([]);
    expect(process.env.POWERTOOLS_METRICS_DISABLED).toBeUndefined();
  });

  it('writes one EMF document per flush in Lambda, in the ParlSwarm namespace with the service dimension', async () => {
    const metrics = createMetrics({ AWS_LAMBDA_FUNCTION_NAME: 'aggregate' });
    const documents = await captureEmf(() => {
      metrics.addMetric(JOB_METRICS.criticalSteps, MetricUnit.Count, 3);
      metrics.publishStoredMetrics();
    });
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [['service']],
            Metrics: [{ Name: 'CriticalSteps', Unit: 'Count' }],
          },
        ],
      },
      service: 'parl-swarm',
      CriticalSteps: 3,
    });
  });
});

describe('publishMetrics', () => {
  it.each([
    ['returns', false],
    ['throws', true],
  ])('flushes what the handler recorded when it %s', async (_how, throws) => {
    // Prepare
    const telemetry = lambdaTelemetry();
    const handler = middy(async () => {
      telemetry.metrics.addMetric(PROVIDER_METRICS.modelCalls, MetricUnit.Count, 2);
      await Promise.resolve();
      if (throws) throw new Error('boom');
      return 'done';
    }).use(publishMetrics(telemetry.metrics));
    // Act
    const documents = await captureEmf(() => handler({}, context).catch(() => undefined));
    // Assess
    expect(documents.map((doc) => doc.ModelCalls)).toEqual([2]);
  });

  it('writes nothing for an invocation that recorded nothing', async () => {
    const telemetry = lambdaTelemetry();
    const handler = middy(async () => 'done').use(publishMetrics(telemetry.metrics));
    expect(await captureEmf(() => handler({}, context))).toEqual([]);
  });
});

describe('ObservedLlm', () => {
  it.each([
    ['an answer', undefined],
    ['a call refused by the open circuit', new CircuitOpenError('the circuit is open', 1_000)],
  ])('counts the provider calls and the open circuit’s refusals of %s', async (_what, fail) => {
    // Prepare
    const telemetry = lambdaTelemetry();
    const llm = new ObservedLlm(
      clientWith({ calls: 2, rateLimited: 1, waitedMs: 5, circuitOpen: 1 }, fail),
      telemetry,
    );
    // Act
    const documents = await captureEmf(async () => {
      await llm.chat(ask).catch(() => undefined);
      await llm.chat(ask).catch(() => undefined);
      telemetry.metrics.publishStoredMetrics();
    });
    // Assess: two calls' values, summed by CloudWatch.
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      [PROVIDER_METRICS.modelCalls]: [2, 2],
      [PROVIDER_METRICS.circuitOpen]: [1, 1],
    });
  });

  it('passes the answer through untouched, with the model of the client it wraps (tracing is off outside Lambda)', async () => {
    const inner = clientWith({ calls: 1, rateLimited: 0, waitedMs: 0 });
    const llm = new ObservedLlm(inner, lambdaTelemetry());
    expect(tracer.isTracingEnabled()).toBe(false);
    expect(llm.model).toBe('kimi-k2.5');
    expect(await llm.chat(ask)).toEqual(await inner.chat(ask));
  });

  it('waits for a request’s ready exactly when the client it wraps does', () => {
    const inner = clientWith({ calls: 1, rateLimited: 0, waitedMs: 0 });
    expect(new ObservedLlm(inner, lambdaTelemetry()).waitsForReady).toBe(false);
    const waiting = Object.assign(Object.create(inner) as typeof inner, { waitsForReady: true });
    expect(new ObservedLlm(waiting, lambdaTelemetry()).waitsForReady).toBe(true);
  });

  it('ends its wait for a call’s bookkeeping that fails, without an unhandled rejection', async () => {
    // Prepare: a client breaking the port's promise: its answer's bookkeeping rejects
    const inner = clientWith({ calls: 1, rateLimited: 0, waitedMs: 0 });
    const failing: LlmClient = {
      model: inner.model,
      chat: async (request) => ({
        ...(await inner.chat(request)),
        settling: Promise.reject(new Error('gone')),
      }),
    };
    const unhandled: unknown[] = [];
    const note = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', note);
    try {
      const llm = new ObservedLlm(failing, lambdaTelemetry());
      // Act
      await llm.chat(ask);
      // Assess: settled() ends, and nothing was left unhandled
      await expect(llm.settled()).resolves.toBeUndefined();
      await new Promise((r) => setTimeout(r, 10));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', note);
    }
  });
});

describe('jobMetricPoints', () => {
  const measures: JobMetrics = {
    criticalSteps: 3,
    sequentialSteps: 9,
    stepSpeedup: 3,
    criticalPathMs: 300,
    sequentialMs: 900,
    wallClockMs: 450,
    overhead: 1.5,
    rParallel: 2 / 3,
    rFinish: 0.75,
    rPerf: null,
    reward: null,
    weights: { parallel: 0.4, finish: 0.35, perf: 0.25 },
    subagents: { spawned: 4, completed: 3 },
    tokens: { input: 100, output: 20, cachedInput: 10 },
    costUsd: 0.001,
  };

  it('leaves out r_perf and rPARL of an unscored job, and counts the sub-agents that did not complete', () => {
    const points = Object.fromEntries(jobMetricPoints(measures).map((p) => [p.name, p.value]));
    expect(points).not.toHaveProperty(JOB_METRICS.rPerf);
    expect(points).not.toHaveProperty(JOB_METRICS.rParl);
    expect(points).toMatchObject({ CriticalSteps: 3, Overhead: 1.5, RFinish: 0.75, SubagentsFailed: 1 });
  });

  it('keeps scored rewards, the 429s and the flags, and drops a value CloudWatch cannot take', () => {
    const points = jobMetricPoints({
      ...measures,
      rPerf: 1,
      reward: 0.9,
      overhead: Number.POSITIVE_INFINITY,
      flags: { serialCollapse: false, spuriousParallelism: true },
      provider: {
        name: 'moonshot',
        model: 'kimi-k2.5',
        baseUrl: 'http://127.0.0.1:1/v1',
        limits: { maxConcurrency: 1, rpm: null, tpm: null, windowMs: 60_000 },
        limiter: true,
        calls: 5,
        retries: 1,
        rateLimited: 2,
        waitedMs: 10,
      },
    });
    const byName = Object.fromEntries(points.map((p) => [p.name, p]));
    expect(byName).not.toHaveProperty(JOB_METRICS.overhead);
    expect(byName).toMatchObject({
      RPerf: { value: 1, unit: 'None' },
      RParl: { value: 0.9, unit: 'None' },
      RateLimited: { value: 2, unit: 'Count' },
      SerialCollapse: { value: 0 },
      SpuriousParallelism: { value: 1 },
      WallClockMs: { value: 450, unit: 'Milliseconds' },
    });
  });
});
