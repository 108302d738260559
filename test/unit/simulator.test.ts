import { describe, expect, it } from 'vitest';
import { answer, classify, evaluateArithmetic } from '#local/simulator/model';
import {
  cachedTokens,
  completionTokens,
  hashUnit,
  messageTokens,
  promptTokens,
  type WireRequest,
} from '#local/simulator/wire';
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

const settings = { seed: 1, verdictErrorRate: 0 };

/** The BMA sub-agent's second turn, with both tool results in place. */
const judged = (inst: Installation): WireRequest => ({
  tools: bmaTools,
  messages: [
    { role: 'system', content: bmaSubagentSystemPrompt },
    { role: 'user', content: bmaSubtaskPrompt(inst.id) },
    {
      role: 'assistant',
      content: '',
      tool_calls: [
        {
          id: 'a',
          type: 'function',
          function: { name: 'get_installation', arguments: `{"installationId":"${inst.id}"}` },
        },
        { id: 'b', type: 'function', function: { name: 'list_rules', arguments: '{}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'a', content: JSON.stringify(inst) },
    { role: 'tool', tool_call_id: 'b', content: JSON.stringify(EXAMPLE_RULE_SET) },
  ],
});

const verdictOf = (request: WireRequest, verdictErrorRate: number): string =>
  (JSON.parse(answer(request, { seed: 1, verdictErrorRate }).content ?? '') as { verdict: string }).verdict;

describe('evaluateArithmetic', () => {
  it.each([
    ['12 + 30', 42],
    ['7 * 6', 42],
    ['100 - 1', 99],
    ['100 -1', 99],
    ['2 + 3 * 4', 14],
    ['7 * -6', -42],
    ['10 / 4', 2.5],
    ['12+30', 42],
  ])('evaluates %s to %d', (expression, expected) => {
    expect(evaluateArithmetic(expression)).toBe(expected);
  });

  it.each(['42', '1 / 0', ''])('gives up on %j', (expression) => {
    expect(evaluateArithmetic(expression)).toBeUndefined();
  });
});

describe('classify', () => {
  it.each([
    ['bma', { tools: bmaTools, messages: [{ role: 'user', content: bmaSubtaskPrompt('BMA-0001') }] }],
    ['synthesizer', { messages: [{ role: 'system', content: synthesizerSystemPrompt }] }],
    ['planner', { messages: [{ role: 'system', content: plannerSystemPrompt(10) }] }],
    ['planner', { response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'x' }] }],
    ['generic', { messages: [{ role: 'system', content: genericSubagentSystemPrompt }] }],
  ])('recognizes the %s', (kind, request) => {
    expect(classify(request as WireRequest)).toBe(kind);
  });
});

describe('the simulated model', () => {
  it('does not read a date or a range as a subtraction', () => {
    // Act
    const reply = answer(
      { messages: [{ role: 'user', content: 'On 2026-11-01, rank items 1-4.' }] },
      settings,
    );

    // Assess
    expect(reply.content).toMatch(/^For "/);
  });

  it('spreads more items than subtasks over the parts', () => {
    // Prepare
    const request: WireRequest = {
      messages: [
        { role: 'system', content: plannerSystemPrompt(4) },
        { role: 'user', content: 'Compare 20 companies.' },
      ],
    };

    // Act
    const plan = JSON.parse(answer(request, settings).content ?? '') as { subtasks: { prompt: string }[] };

    // Assess
    expect(plan.subtasks.map((s) => s.prompt)).toEqual([
      'Part 1 of 4 (items 1 to 5 of 20): Compare 20 companies.',
      'Part 2 of 4 (items 6 to 10 of 20): Compare 20 companies.',
      'Part 3 of 4 (items 11 to 15 of 20): Compare 20 companies.',
      'Part 4 of 4 (items 16 to 20 of 20): Compare 20 companies.',
    ]);
  });

  it('gets the ground truth right with verdictErrorRate 0', () => {
    // Prepare
    const installations = generateInstallations(100, 3);

    // Act
    const verdicts = installations.map((i) => verdictOf(judged(i), 0));

    // Assess
    expect(verdicts).toEqual(installations.map((i) => evaluateInstallation(i).verdict));
  });

  it('gets about the given share of verdicts wrong, the same ones every time', () => {
    // Prepare
    const installations = generateInstallations(400, 5);
    const truth = installations.map((i) => evaluateInstallation(i).verdict);

    // Act
    const first = installations.map((i) => verdictOf(judged(i), 0.25));
    const again = installations.map((i) => verdictOf(judged(i), 0.25));

    // Assess
    const wrong = first.filter((v, i) => v !== truth[i]).length / installations.length;
    expect(wrong).toBeGreaterThan(0.17);
    expect(wrong).toBeLessThan(0.33);
    expect(again).toEqual(first);
  });
});

describe('the token estimate', () => {
  const request: WireRequest = {
    messages: [
      { role: 'system', content: 'x'.repeat(40) }, // 4 + 10
      { role: 'user', content: 'x'.repeat(9) }, // 4 + 3
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      }, // 4 + 0 + 2
      { role: 'tool', tool_call_id: 'a', content: 'x'.repeat(100) }, // 4 + 25
    ],
  };

  it('counts a quarter token per character plus 4 per message', () => {
    expect(request.messages.map(messageTokens)).toEqual([14, 7, 6, 29]);
    expect(promptTokens(request)).toBe(56);
    expect(promptTokens({ ...request, tools: [{ a: 'xx' }] })).toBe(
      56 + Math.ceil('[{"a":"xx"}]'.length / 4),
    );
  });

  it('caches everything up to the last assistant message, nothing on a first turn', () => {
    expect(cachedTokens(request)).toBe(27);
    expect(cachedTokens({ messages: request.messages.slice(0, 2) })).toBe(0);
  });

  it('charges at least one completion token', () => {
    expect(completionTokens('', [])).toBe(1);
    expect(completionTokens('x'.repeat(9), [])).toBe(3);
  });
});

describe('hashUnit', () => {
  it('is deterministic and within [0, 1)', () => {
    const values = Array.from({ length: 1000 }, (_, i) => hashUnit(1, 'k', i));
    expect(values).toEqual(Array.from({ length: 1000 }, (_, i) => hashUnit(1, 'k', i)));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(hashUnit(1, 'k')).not.toBe(hashUnit(2, 'k'));
  });
});
