/**
 * The prompts and tool definitions the agents send. They are written for a real model (Kimi);
 * the built-in simulator reads the same messages, as a model would.
 */

/** System prompt of the orchestrator when it decomposes a free-text task. */
export const plannerSystemPrompt = (maxSubtasks: number): string =>
  [
    'You are the orchestrator of an agent swarm.',
    'Decompose the user task into independent subtasks that sub-agents can solve in parallel, without talking to each other.',
    `Use at most ${maxSubtasks} subtasks; each must be self-contained.`,
    'Reply with JSON only, exactly of the form {"subtasks": [{"prompt": "..."}]}.',
  ].join('\n');

/** System prompt of a sub-agent of the `bma-compliance` workload. */
export const bmaSubagentSystemPrompt = [
  'You are a sub-agent checking fire-alarm installations (BMA) for compliance with a rule set.',
  'Call get_installation and list_rules to read the facts; never guess them.',
  "An installation is compliant only if it violates none of the rules, judged on the rule set's asOf date.",
  'When you know the answer, reply with JSON only:',
  '{"installationId": "...", "verdict": "compliant" | "non_compliant", "reasons": ["<rule id>: <why>"]}',
].join('\n');

/** System prompt of a sub-agent of the `generic` workload. */
export const genericSubagentSystemPrompt = [
  'You are a sub-agent of an agent swarm. Solve the one subtask you are given.',
  'Reply with the answer only, on one line, without explanation.',
].join('\n');

/** System prompt of the orchestrator when it synthesizes the final answer. */
export const synthesizerSystemPrompt = [
  'You are the orchestrator of an agent swarm. Your sub-agents have finished.',
  'Synthesize their results into the final answer to the user task: a short summary first, then the key findings.',
].join('\n');

/** OpenAI-style function tool definitions of the `bma-compliance` workload. */
export const bmaTools = [
  {
    type: 'function' as const,
    function: {
      name: 'get_installation',
      description:
        'Returns the facts of one fire-alarm installation: inspection and maintenance dates, detectors, battery, open defects.',
      parameters: {
        type: 'object',
        properties: { installationId: { type: 'string', description: 'e.g. BMA-0042' } },
        required: ['installationId'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function' as const,
    function: {
      name: 'list_rules',
      description: 'Returns the rule set to check against, with its asOf date.',
      parameters: { type: 'object', properties: {}, additionalProperties: false },
    },
  },
];

/** The user message that hands a sub-agent one installation. */
export const bmaSubtaskPrompt = (installationId: string): string =>
  `Check fire-alarm installation ${installationId} for compliance with the rule set.`;
