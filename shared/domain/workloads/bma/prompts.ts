/**
 * What the `bma` workload's sub-agents are told. Written for a real model (Kimi); the built-in
 * simulator reads the same messages, as a model would.
 */

/** System prompt of a sub-agent of the `bma` workload. */
export const bmaSubagentSystemPrompt = [
  'You are a sub-agent checking fire-alarm installations (BMA) for compliance with a rule set.',
  'Call get_installation and list_rules to read the facts; never guess them.',
  "An installation is compliant only if it violates none of the rules, judged on the rule set's asOf date.",
  'When you know the answer, reply with JSON only:',
  '{"installationId": "...", "verdict": "compliant" | "non_compliant", "reasons": ["<rule id>: <why>"]}',
].join('\n');

/** The user message that hands a sub-agent one installation. */
export const bmaSubtaskPrompt = (installationId: string): string =>
  `Check fire-alarm installation ${installationId} for compliance with the rule set.`;
