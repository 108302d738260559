import { EXAMPLE_RULE_SET } from '#shared/domain/bma';
import { bmaTools } from '#shared/domain/prompts';
import type { WorkloadName } from '#shared/domain/types';
import type { JobRef, JobStore } from '#shared/ports/job-store';
import type { ToolCall, ToolDefinition } from '#shared/ports/llm';

/** The tools a workload's sub-agents may call. */
export function toolsFor(workload: WorkloadName): ToolDefinition[] | undefined {
  return workload === 'bma-compliance' ? bmaTools : undefined;
}

/**
 * Runs one tool call against the job's data and returns the tool message content (JSON).
 * Errors are returned to the model as `{error}`, the way a tool answers a wrong call.
 */
export async function executeTool(store: JobStore, ref: JobRef, call: ToolCall): Promise<string> {
  let args: Record<string, unknown>;
  try {
    args =
      call.function.arguments.trim() === ''
        ? {}
        : (JSON.parse(call.function.arguments) as Record<string, unknown>);
  } catch {
    return JSON.stringify({ error: `arguments of ${call.function.name} are not valid JSON` });
  }
  switch (call.function.name) {
    case 'list_rules':
      return JSON.stringify(EXAMPLE_RULE_SET);
    case 'get_installation': {
      const id = args.installationId;
      if (typeof id !== 'string') return JSON.stringify({ error: 'installationId (string) is required' });
      const record = await store.getDatasetItem(ref, 'installations', id);
      return JSON.stringify(record ?? { error: `installation ${id} not found` });
    }
    default:
      return JSON.stringify({ error: `unknown tool ${call.function.name}` });
  }
}
