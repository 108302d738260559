/**
 * The orchestrator's prompts (a sub-agent's come from its workload, `workloads/<name>/`). They are
 * written for a real model (Kimi); the built-in simulator reads the same messages, as a model would.
 */

/** System prompt of the orchestrator when it decomposes a free-text task. */
export const plannerSystemPrompt = (maxSubtasks: number): string =>
  [
    'You are the orchestrator of an agent swarm.',
    'Decompose the user task into independent subtasks that sub-agents can solve in parallel, without talking to each other.',
    `Use at most ${maxSubtasks} subtasks; each must be self-contained.`,
    'Reply with JSON only, exactly of the form {"subtasks": [{"prompt": "..."}]}.',
  ].join('\n');

/** System prompt of the orchestrator when it synthesizes the final answer. */
export const synthesizerSystemPrompt = [
  'You are the orchestrator of an agent swarm. Your sub-agents have finished.',
  'Synthesize their results into the final answer to the user task: a short summary first, then the key findings.',
].join('\n');
