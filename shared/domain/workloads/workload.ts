/**
 * What a workload is: everything that differs between kinds of job, in one object per workload.
 * A workload decides its sub-agents' system prompt and tools, runs their tool calls against the
 * job's data, parses and scores their answers, and says what data a request must carry. A new
 * workload is a folder beside `generic/` and `bma/` and one line in `registry.ts`.
 */

/** The data a request carries for its workload's tools: collections of items by name. */
export type Dataset = Record<string, unknown[]>;

/** Reads one item of the job's dataset (`installations`, `BMA-0042`); undefined when there is none. */
export type DatasetItems = (collection: string, id: string) => Promise<unknown | undefined>;

/** A sub-agent's parsed answer to one subtask. */
export interface ParsedAnswer {
  answer: string;
  verdict?: string;
  reasons?: string[];
  /** What the answer says it is about (a BMA verdict's installation id). */
  subject?: string;
}

/** A tool as the model is shown it: the OpenAI function-tool shape (the LLM port's ToolDefinition). */
export interface WorkloadTool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

/** One workload; `Name` is its literal name, so the registry can type the names it holds. */
export interface Workload<Name extends string = string> {
  readonly name: Name;
  /** The dataset collection whose presence selects this workload when a request names none. */
  readonly datasetKey: string | undefined;
  /** The system prompt of its sub-agents. */
  readonly systemPrompt: string;
  /** The tools its sub-agents may call (none: the request carries no `tools`). */
  readonly tools: readonly WorkloadTool[];
  /**
   * Runs one tool call with parsed arguments; returns what the tool answers (a JSON value; errors
   * as `{error}`, the way a tool answers a wrong call), or undefined for a tool it does not have.
   */
  runTool(name: string, args: Record<string, unknown>, items: DatasetItems): Promise<unknown>;
  /** Parses a final reply; throws SyntaxError when it is not usable (the sub-agent is asked again). */
  parseAnswer(content: string): ParsedAnswer;
  /**
   * Checks that a parsed answer is about the subtask the sub-agent was given (a BMA verdict names
   * the installation of its prompt); SyntaxError when not, so the sub-agent is asked again. A
   * workload whose answers name nothing checks nothing.
   */
  checkAnswer(parsed: ParsedAnswer, subtask: { id: string; prompt: string }): void;
  /** Whether a parsed answer matches the ground truth of its subtask. */
  isCorrect(parsed: ParsedAnswer, expected: string): boolean;
  /** What a request must carry for this workload (checked with the request); RequestValidationError. */
  requireDataset(dataset: Dataset | undefined): void;
  /** Whether the dataset's items are usable (checked when the job is accepted); RequestValidationError. */
  checkDataset(dataset: Dataset | undefined): void;
  /** The subtasks the dataset stands for, for a request without subtasks (sizes the cost estimate). */
  datasetUnits(dataset: Dataset | undefined): number | undefined;
}

/** Declares a workload, keeping its name's literal type. */
export const defineWorkload = <const Name extends string>(workload: Workload<Name>): Workload<Name> =>
  workload;
