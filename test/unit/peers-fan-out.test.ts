import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { synthesisPrompt } from '#shared/use-cases/aggregate-job';
import { runLangGraph, runPromiseAll } from '../../bench/peers/fan-out';

type Body = { messages: { role: string; content: string }[]; max_tokens: number };

/** An OpenAI client that answers every request with its prompt's last word, and keeps the requests. */
function recordingClient(): { client: OpenAI; bodies: Body[] } {
  const bodies: Body[] = [];
  const create = (body: Body) => {
    bodies.push(body);
    const prompt = body.messages.at(-1)?.content ?? '';
    return Promise.resolve({ choices: [{ message: { content: ` ${prompt.split(' ').at(-1)} ` } }] });
  };
  return { client: { chat: { completions: { create } } } as unknown as OpenAI, bodies };
}

const subtasks = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `q${String(i + 1).padStart(4, '0')}`,
    prompt: `What is ${i}?`,
  }));

describe('the peers bench: the peers ask the model what our synthesizer asks', () => {
  it.each([
    ['Promise.all', runPromiseAll],
    ['LangGraph.js', runLangGraph],
  ])('%s sends our synthesis prompt, the tally of a list over 200 results too', async (_name, run) => {
    const { client, bodies } = recordingClient();
    const items = subtasks(250);
    await run(client, 'kimi-k2.5', 'Answer 250 questions', items, 50);
    const synthesis = bodies.find((b) => b.max_tokens === 1500)!;
    const ours = synthesisPrompt(
      'Answer 250 questions',
      items.map((s) => ({
        subtaskId: s.id,
        agentId: s.id,
        stage: 1,
        status: 'ANSWERED' as const,
        answer: s.prompt.split(' ').at(-1)!,
      })),
      250,
    );
    expect(synthesis.messages.at(-1)!.content).toBe(ours);
    expect(ours).toContain('… and 50 more results.\nAll 250 results: answered 250 · no answer 0.');
    expect(bodies).toHaveLength(251);
  });
});
