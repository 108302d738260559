/** The tools of the `bma` workload's sub-agents: their definitions and what they answer. */
import type { DatasetItems, WorkloadTool } from '../workload';
import { EXAMPLE_RULE_SET } from './rules';

/** The dataset collection the installations are stored under. */
export const INSTALLATIONS = 'installations';

/** OpenAI-style function tool definitions of the `bma` workload. */
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
] satisfies WorkloadTool[];

/** Answers one tool call: the rule set, or one installation of the job's dataset; undefined for another tool. */
export async function runBmaTool(
  name: string,
  args: Record<string, unknown>,
  items: DatasetItems,
): Promise<unknown> {
  switch (name) {
    case 'list_rules':
      return EXAMPLE_RULE_SET;
    case 'get_installation': {
      const id = args.installationId;
      if (typeof id !== 'string') return { error: 'installationId (string) is required' };
      return (await items(INSTALLATIONS, id)) ?? { error: `installation ${id} not found` };
    }
    default:
      return undefined;
  }
}
