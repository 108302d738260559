import type { DatasetItems, Workload } from '#shared/domain/workloads/workload';
import type { ToolCall, ToolDefinition } from '#shared/ports/llm';

/** The tools a workload's sub-agents may call; undefined when it has none (no `tools` is sent). */
export function toolsFor(workload: Workload): ToolDefinition[] | undefined {
  return workload.tools.length > 0 ? [...workload.tools] : undefined;
}

/**
 * Runs one tool call of a workload's sub-agent against the job's data and returns the tool message
 * content (JSON). Errors are returned to the model as `{error}`, the way a tool answers a wrong call;
 * a tool the job was not offered is one of them, and never runs.
 */
export async function executeTool(workload: Workload, items: DatasetItems, call: ToolCall): Promise<string> {
  let args: Record<string, unknown>;
  try {
    args =
      call.function.arguments.trim() === ''
        ? {}
        : (JSON.parse(call.function.arguments) as Record<string, unknown>);
  } catch {
    return JSON.stringify({ error: `arguments of ${call.function.name} are not valid JSON` });
  }
  // Only the tools offered to the job may run, whatever the model asks for.
  if (!workload.tools.some((t) => t.function.name === call.function.name)) {
    return JSON.stringify({ error: `the tool ${call.function.name} is not offered to this job` });
  }
  const answer = await workload.runTool(call.function.name, args, items);
  return JSON.stringify(answer ?? { error: `unknown tool ${call.function.name}` });
}
