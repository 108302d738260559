import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '#local/simulator/server';
import { plannerSystemPrompt, synthesizerSystemPrompt } from '#shared/domain/prompts';
import { generateInstallations } from '#shared/domain/workloads/bma/data';
import { bmaSubagentSystemPrompt, bmaSubtaskPrompt } from '#shared/domain/workloads/bma/prompts';
import {
  EXAMPLE_RULE_SET,
  evaluateInstallation,
  type Installation,
} from '#shared/domain/workloads/bma/rules';
import { bmaTools } from '#shared/domain/workloads/bma/tools';
import { genericSubagentSystemPrompt } from '#shared/domain/workloads/generic/workload';

type Message = OpenAI.Chat.ChatCompletionMessageParam;
type Completion = OpenAI.Chat.ChatCompletion;
type Usage = OpenAI.CompletionUsage & { cached_tokens?: number };

const MODEL = 'kimi-k2.5';
const installations = generateInstallations(30, 1);
const compliantOne = installations.find((i) => evaluateInstallation(i).verdict === 'compliant')!;
const nonCompliantOne = installations.find((i) => evaluateInstallation(i).verdict === 'non_compliant')!;

const started: Simulator[] = [];
async function simulator(opts: SimulatorOptions = {}): Promise<{ sim: Simulator; client: OpenAI }> {
  const sim = await startSimulator({ latencyScale: 0, ...opts });
  started.push(sim);
  return { sim, client: new OpenAI({ baseURL: sim.baseUrl, apiKey: 'test', maxRetries: 0 }) };
}

const bmaMessages = (id: string): Message[] => [
  { role: 'system', content: bmaSubagentSystemPrompt },
  { role: 'user', content: bmaSubtaskPrompt(id) },
];

/** Runs the tool calls of a reply the way the sub-agent's tools would, against one installation. */
function withToolResults(
  messages: Message[],
  reply: Completion,
  installation: Installation | undefined,
): Message[] {
  const message = reply.choices[0]!.message;
  const calls = (message.tool_calls ?? []).filter((c) => c.type === 'function');
  const results: Message[] = calls.map((call) => ({
    role: 'tool',
    tool_call_id: call.id,
    content:
      call.function.name === 'list_rules'
        ? JSON.stringify(EXAMPLE_RULE_SET)
        : JSON.stringify(installation ?? { error: 'installation BMA-9999 not found' }),
  }));
  return [...messages, { role: 'assistant', content: message.content, tool_calls: calls }, ...results];
}

/** The BMA sub-agent's two turns: read the facts, then judge. */
async function checkInstallation(client: OpenAI, installation: Installation) {
  const messages = bmaMessages(installation.id);
  const first = await client.chat.completions.create({ model: MODEL, messages, tools: bmaTools });
  const second = await client.chat.completions.create({
    model: MODEL,
    messages: withToolResults(messages, first, installation),
    tools: bmaTools,
  });
  return {
    first,
    second,
    answer: JSON.parse(second.choices[0]!.message.content ?? '') as Record<string, unknown>,
  };
}

const withoutIdentity = ({ id: _id, created: _created, ...rest }: Completion) => rest;

async function post(
  url: string,
  body: string,
): Promise<{ status: number; json: { error?: { type?: string } } }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, json: (await res.json()) as { error?: { type?: string } } };
}

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe('the Moonshot simulator', () => {
  let sim: Simulator;
  let client: OpenAI;

  beforeAll(async () => {
    ({ sim, client } = await simulator());
  });

  afterEach(() => {
    sim.setFaults([]);
  });

  it('lists its model', async () => {
    // Act
    const models = await client.models.list();

    // Assess
    expect(models.data).toEqual([{ id: MODEL, object: 'model', owned_by: 'moonshot' }]);
  });

  describe('as a BMA sub-agent', () => {
    it.each([
      ['compliant', compliantOne],
      ['non_compliant', nonCompliantOne],
    ])('calls both tools, then gives the ground-truth verdict (%s)', async (expected, installation) => {
      // Act
      const { first, second, answer } = await checkInstallation(client, installation);

      // Assess
      const calls = first.choices[0]!.message.tool_calls ?? [];
      expect(first.choices[0]!.finish_reason).toBe('tool_calls');
      expect(
        calls.map((c) => (c.type === 'function' ? [c.function.name, JSON.parse(c.function.arguments)] : [])),
      ).toEqual([
        ['get_installation', { installationId: installation.id }],
        ['list_rules', {}],
      ]);
      expect(second.choices[0]!.finish_reason).toBe('stop');
      const truth = evaluateInstallation(installation, EXAMPLE_RULE_SET);
      expect(answer).toEqual({
        installationId: installation.id,
        verdict: expected,
        reasons: truth.violated.map(
          (id) => `${id}: ${EXAMPLE_RULE_SET.rules.find((r) => r.id === id)!.title}`,
        ),
      });
    });

    it('calls only the tool whose result is missing', async () => {
      // Prepare
      const messages = bmaMessages(compliantOne.id);
      const first = await client.chat.completions.create({ model: MODEL, messages, tools: bmaTools });
      const onlyRules = withToolResults(messages, first, compliantOne).filter(
        (m) => m.role !== 'tool' || m.content === JSON.stringify(EXAMPLE_RULE_SET),
      );

      // Act
      const reply = await client.chat.completions.create({
        model: MODEL,
        messages: onlyRules,
        tools: bmaTools,
      });

      // Assess
      const calls = (reply.choices[0]!.message.tool_calls ?? []).filter((c) => c.type === 'function');
      expect(calls.map((c) => [c.function.name, c.function.arguments])).toEqual([
        ['get_installation', JSON.stringify({ installationId: compliantOne.id })],
      ]);
    });

    it('answers "unknown" when the installation does not exist', async () => {
      // Prepare
      const messages = bmaMessages('BMA-9999');
      const first = await client.chat.completions.create({ model: MODEL, messages, tools: bmaTools });

      // Act
      const reply = await client.chat.completions.create({
        model: MODEL,
        messages: withToolResults(messages, first, undefined),
        tools: bmaTools,
      });

      // Assess
      expect(JSON.parse(reply.choices[0]!.message.content ?? '')).toEqual({
        installationId: 'BMA-9999',
        verdict: 'unknown',
        reasons: ['installation not found'],
      });
    });

    it('flips every verdict with verdictErrorRate 1', async () => {
      // Prepare
      const wrong = await simulator({ verdictErrorRate: 1 });

      // Act
      const answers = await Promise.all(
        [compliantOne, nonCompliantOne].map((i) => checkInstallation(wrong.client, i)),
      );

      // Assess
      expect(answers.map((a) => a.answer.verdict)).toEqual(['non_compliant', 'compliant']);
      expect(answers[0]!.answer.reasons).toHaveLength(1);
      expect(answers[1]!.answer.reasons).toEqual([]);
    });
  });

  it('gives the same answer to the same request under the same seed', async () => {
    // Prepare
    const other = await simulator({ seed: 1 });
    const messages = bmaMessages(nonCompliantOne.id);

    // Act
    const [a, b, c] = await Promise.all([
      client.chat.completions.create({ model: MODEL, messages, tools: bmaTools }),
      client.chat.completions.create({ model: MODEL, messages, tools: bmaTools }),
      other.client.chat.completions.create({ model: MODEL, messages, tools: bmaTools }),
    ]);
    const verdicts = await Promise.all([
      checkInstallation(client, nonCompliantOne),
      checkInstallation(other.client, nonCompliantOne),
    ]);

    // Assess
    expect(withoutIdentity(a)).toEqual(withoutIdentity(b));
    expect(withoutIdentity(a)).toEqual(withoutIdentity(c));
    expect(a.id).not.toBe(b.id);
    expect(withoutIdentity(verdicts[0].second)).toEqual(withoutIdentity(verdicts[1].second));
  });

  describe('as the planner', () => {
    it.each([
      ['Compare 20 companies by revenue growth.', 50, 20],
      ['Compare 20 companies by revenue growth.', 4, 4],
      ['Write a market overview of electric bikes.', 50, 5],
      ['What is 12 + 30?', 50, 5],
    ])('decomposes "%s" with at most %i subtasks into %i', async (task, max, expected) => {
      // Act
      const reply = await client.chat.completions.create({
        model: MODEL,
        messages: [
          { role: 'system', content: plannerSystemPrompt(max) },
          { role: 'user', content: task },
        ],
        response_format: { type: 'json_object' },
      });

      // Assess
      const plan = JSON.parse(reply.choices[0]!.message.content ?? '') as { subtasks: { prompt: string }[] };
      expect(plan.subtasks).toHaveLength(expected);
      expect(plan.subtasks.every((s) => typeof s.prompt === 'string' && s.prompt.includes(task))).toBe(true);
      expect(reply.choices[0]!.finish_reason).toBe('stop');
    });
  });

  it('counts a long list from its tally line, not from the results listed', async () => {
    // Act: 2 results listed, 1,000 counted in the tally the aggregator adds under a long list
    const reply = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: synthesizerSystemPrompt },
        {
          role: 'user',
          content: [
            'Task: Check 1000 installations.',
            '',
            'Results of 1000 of 1000 subtasks:',
            '- BMA-0001: compliant',
            '- BMA-0002: non_compliant (R1: Inspection at most 92 days ago (quarterly))',
            '… and 998 more results.',
            'All 1000 results: non_compliant 530 · compliant 460 · no answer 10. Most frequent reasons: R2: Maintenance at most 366 days ago (yearly) (140×); R1: Inspection at most 92 days ago (quarterly) (99×).',
          ].join('\n'),
        },
      ],
    });

    // Assess
    const content = reply.choices[0]!.message.content ?? '';
    expect(content).toContain('I reviewed 1000 results');
    expect(content).toContain(
      '460 of them are compliant and 530 are non-compliant, while 10 got no usable answer',
    );
    expect(content).toContain('The most frequent reasons are R2 (140×), R1 (99×)');
  });

  it('summarizes the results as the synthesizer, counting them', async () => {
    // Act
    const reply = await client.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: synthesizerSystemPrompt },
        {
          role: 'user',
          content:
            'Task: Check 3 installations.\n\nResults of 3 of 3 subtasks:\n- BMA-0001: compliant\n- BMA-0002: non_compliant (R1: Inspection at most 92 days ago (quarterly))\n- BMA-0003: no answer (timeout)',
        },
      ],
    });

    // Assess
    const content = reply.choices[0]!.message.content ?? '';
    expect(content).toContain('3 results');
    expect(content).toContain('1 of them are compliant and 1 are non-compliant');
    expect(reply.usage!.completion_tokens).toBeGreaterThanOrEqual(50);
    expect(reply.usage!.completion_tokens).toBeLessThanOrEqual(300);
  });

  describe('as a generic sub-agent', () => {
    it.each([
      ['What is 12 + 30?', '42'],
      ['Part 2 of 5: compute 7 * 6', '42'],
      ['100 - 1', '99'],
      ['Divide 10 / 4', '2.5'],
    ])('answers "%s" with the number only', async (task, expected) => {
      // Act
      const reply = await client.chat.completions.create({
        model: MODEL,
        messages: [
          { role: 'system', content: genericSubagentSystemPrompt },
          { role: 'user', content: task },
        ],
      });

      // Assess
      expect(reply.choices[0]!.message.content).toBe(expected);
    });

    it('answers any other task with a short sentence', async () => {
      // Act
      const reply = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Name the capital of the company with the highest growth.' }],
      });

      // Assess
      expect(reply.choices[0]!.message.content).toMatch(/^For ".+": .+\.$/);
    });
  });

  it('reports usage consistently, with the previous turn cached, and stats sum it up', async () => {
    // Prepare
    const { sim: counted, client: countedClient } = await simulator();

    // Act
    const { first, second } = await checkInstallation(countedClient, compliantOne);
    const synthesis = await countedClient.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: synthesizerSystemPrompt },
        { role: 'user', content: 'Task: t\n\nResults of 1 of 1 subtasks:\n- S-0001: 42' },
      ],
    });

    // Assess
    const usages = [first, second, synthesis].map((c) => c.usage as Usage);
    for (const u of usages) {
      expect(u.total_tokens).toBe(u.prompt_tokens + u.completion_tokens);
      expect(u.cached_tokens).toBe(u.prompt_tokens_details?.cached_tokens);
      expect(u.completion_tokens).toBeGreaterThanOrEqual(1);
    }
    expect(usages[0]!.cached_tokens).toBe(0);
    expect(usages[1]!.cached_tokens).toBeGreaterThan(0);
    expect(usages[1]!.cached_tokens).toBeLessThan(usages[1]!.prompt_tokens);
    expect(usages[1]!.prompt_tokens).toBeGreaterThan(usages[0]!.prompt_tokens);
    const sum = (key: 'prompt_tokens' | 'completion_tokens' | 'cached_tokens') =>
      usages.reduce((s, u) => s + (u[key] ?? 0), 0);
    expect(counted.stats()).toEqual({
      requests: 3,
      succeeded: 3,
      failed: 0,
      inFlight: 0,
      maxInFlight: 1,
      promptTokens: sum('prompt_tokens'),
      completionTokens: sum('completion_tokens'),
      cachedTokens: sum('cached_tokens'),
      byStatus: { '200': 3 },
    });
  });

  it('cuts a long answer at max_tokens with finish_reason "length", but never a tool call', async () => {
    // Act
    const cut = await client.chat.completions.create({
      model: MODEL,
      max_tokens: 10,
      messages: [
        { role: 'system', content: synthesizerSystemPrompt },
        { role: 'user', content: 'Task: t\n\nResults of 2 of 2 subtasks:\n- S-0001: 42\n- S-0002: 43' },
      ],
    });
    const tools = await client.chat.completions.create({
      model: MODEL,
      max_tokens: 1,
      messages: bmaMessages(compliantOne.id),
      tools: bmaTools,
    });

    // Assess
    expect(cut.choices[0]!.finish_reason).toBe('length');
    expect(cut.usage!.completion_tokens).toBe(10);
    expect(cut.choices[0]!.message.content).toHaveLength(40);
    expect(tools.choices[0]!.finish_reason).toBe('tool_calls');
    expect(tools.choices[0]!.message.tool_calls).toHaveLength(2);
  });

  describe('with fault rules', () => {
    it('fails a matching request `times` times with the status, body and Retry-After, then answers', async () => {
      // Prepare
      sim.setFaults([{ match: 'BMA-0003', status: 429, times: 2, retryAfterSeconds: 3 }]);
      const ask = () =>
        client.chat.completions.create({ model: MODEL, messages: bmaMessages('BMA-0003'), tools: bmaTools });
      const failures: InstanceType<typeof OpenAI.APIError>[] = [];

      // Act
      for (let i = 0; i < 2; i++) {
        await ask().catch((error: unknown) => {
          if (error instanceof OpenAI.APIError) failures.push(error);
        });
      }
      const other = await client.chat.completions.create({
        model: MODEL,
        messages: bmaMessages('BMA-0004'),
        tools: bmaTools,
      });
      const third = await ask();

      // Assess
      expect(failures.map((f) => [f.status, f.type, f.headers?.get('retry-after')])).toEqual([
        [429, 'rate_limit_reached_error', '3'],
        [429, 'rate_limit_reached_error', '3'],
      ]);
      expect(failures[0]!.message).toMatch(/try again after 3 seconds/);
      expect(other.choices[0]!.finish_reason).toBe('tool_calls');
      expect(third.choices[0]!.finish_reason).toBe('tool_calls');
    });

    it.each([
      [403, 'exceeded_current_quota_error', /suspended due to insufficient balance/],
      [500, 'engine_overloaded_error', /overloaded/],
      [503, 'engine_overloaded_error', /overloaded/],
    ])('answers %i with a Moonshot-style %s body by default', async (status, type, message) => {
      // Prepare
      sim.setFaults([{ match: 'fail me', status }]);

      // Act
      const res = await post(
        `${sim.baseUrl}/chat/completions`,
        JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'please fail me' }] }),
      );

      // Assess
      expect(res.status).toBe(status);
      expect(res.json.error?.type).toBe(type);
      expect(JSON.stringify(res.json)).toMatch(message);
    });

    it('sends a rule’s own body', async () => {
      // Prepare
      sim.setFaults([
        { match: 'custom', status: 502, body: { error: { message: 'bad gateway', type: 'proxy_error' } } },
      ]);

      // Act
      const res = await post(
        `${sim.baseUrl}/chat/completions`,
        JSON.stringify({ messages: [{ role: 'user', content: 'custom' }] }),
      );

      // Assess
      expect(res).toEqual({ status: 502, json: { error: { message: 'bad gateway', type: 'proxy_error' } } });
    });
  });

  describe('with malformed requests', () => {
    it.each([
      ['bad JSON', '{"messages": [', 400],
      ['no messages', JSON.stringify({ model: MODEL }), 400],
      [
        'streaming',
        JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        400,
      ],
    ])('answers %s with a Moonshot-style 400', async (_name, body, status) => {
      // Act
      const res = await post(`${sim.baseUrl}/chat/completions`, body);

      // Assess
      expect(res.status).toBe(status);
      expect(res.json.error?.type).toBe('invalid_request_error');
    });

    it('says why streaming is refused', async () => {
      // Act
      const res = await post(
        `${sim.baseUrl}/chat/completions`,
        JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      );

      // Assess
      expect(res.json).toEqual({
        error: { message: 'stream is not supported by the simulator', type: 'invalid_request_error' },
      });
    });

    it('answers an unknown path with a JSON 404', async () => {
      // Act
      const res = await post(`${sim.baseUrl}/embeddings`, '{}');

      // Assess
      expect(res.status).toBe(404);
      expect(res.json.error?.type).toBe('resource_not_found_error');
    });

    it('refuses another bearer key when an apiKey is set', async () => {
      // Prepare
      const guarded = await simulator({ apiKey: 'secret' });
      const good = new OpenAI({ baseURL: guarded.sim.baseUrl, apiKey: 'secret', maxRetries: 0 });
      const messages: Message[] = [{ role: 'user', content: '1 + 1' }];

      // Act
      const refused = await guarded.client.chat.completions
        .create({ model: MODEL, messages })
        .catch((e: unknown) => e);
      const accepted = await good.chat.completions.create({ model: MODEL, messages });

      // Assess
      expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(accepted.choices[0]!.message.content).toBe('2');
      expect(guarded.sim.stats().byStatus).toEqual({ '200': 1, '401': 1 });
    });
  });

  it('waits the modelled latency and counts concurrent requests in flight', async () => {
    // Prepare
    const slow = await simulator({
      latencyScale: 1,
      latency: { ttftMs: 200, perInputTokenMs: 0, perOutputTokenMs: 0, jitter: 0 },
    });
    const started = performance.now();

    // Act
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        slow.client.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: `${i} + 1` }],
        }),
      ),
    );

    // Assess
    const elapsed = performance.now() - started;
    expect(replies.map((r) => r.choices[0]!.message.content)).toEqual(
      Array.from({ length: 10 }, (_, i) => String(i + 1)),
    );
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1500);
    const stats = slow.sim.stats();
    expect(stats.maxInFlight).toBeGreaterThanOrEqual(5);
    expect(stats.maxInFlight).toBeLessThanOrEqual(10);
    expect(stats.inFlight).toBe(0);
  });

  it('records the latency it modelled for each request when asked to, which a reset clears', async () => {
    // Prepare: one simulator that records, one that does not
    const latency = { ttftMs: 200, perInputTokenMs: 0, perOutputTokenMs: 0, jitter: 0.2 };
    const sim = await simulator({ latencyScale: 0.25, latency, recordLatencies: true });
    const silent = await simulator({ latencyScale: 0.25, latency });
    await silent.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: '1 + 1' }],
    });
    const ask = (content: string) =>
      sim.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }] });

    // Act
    await Promise.all(['1 + 1', '2 + 2', '3 + 3'].map(ask));
    const modelled = sim.sim.modelledLatencies();
    sim.sim.resetStats();
    await ask('4 + 4');

    // Assess: 200 ms × 0.25, within the jitter of ±20 %, and not all the same
    expect(modelled).toHaveLength(3);
    for (const ms of modelled) {
      expect(ms).toBeGreaterThanOrEqual(40);
      expect(ms).toBeLessThanOrEqual(60);
    }
    expect(new Set(modelled).size).toBeGreaterThan(1);
    expect(sim.sim.modelledLatencies()).toHaveLength(1);
    expect(silent.sim.stats().succeeded).toBe(1);
    expect(silent.sim.modelledLatencies()).toEqual([]);
  });
});
