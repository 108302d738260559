/**
 * The `generic` workload: free-text subtasks, no tools, the answer is the reply's text, scored by
 * comparing it with the ground truth (case, spacing and a final full stop ignored).
 */
import { defineWorkload } from '../workload';

/** System prompt of a sub-agent of the `generic` workload. */
export const genericSubagentSystemPrompt = [
  'You are a sub-agent of an agent swarm. Solve the one subtask you are given.',
  'Reply with the answer only, on one line, without explanation.',
].join('\n');

const normalize = (s: string): string =>
  s
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/[.。]$/, '');

export const genericWorkload = defineWorkload({
  name: 'generic',
  datasetKey: undefined,
  systemPrompt: genericSubagentSystemPrompt,
  tools: [],
  runTool: () => Promise.resolve(undefined),
  parseAnswer(content) {
    if (content.trim() === '') throw new SyntaxError('empty reply');
    return { answer: content.trim() };
  },
  checkAnswer: () => {},
  isCorrect: (parsed, expected) => normalize(parsed.answer) === normalize(expected),
  requireDataset: () => {},
  checkDataset: () => {},
  datasetUnits: () => undefined,
});
