/**
 * Reads the workflow's Amazon States Language back out of a synthesized CloudFormation template,
 * so tests and the local runtime execute exactly what the cloud runs (no second copy).
 */

/** A CloudFormation intrinsic (or any other non-string part) inside a DefinitionString. */
export type Intrinsic = Record<string, unknown>;

/** Turns one intrinsic of the DefinitionString into the text that stands in for it. */
export type IntrinsicResolver = (intrinsic: Intrinsic) => string;

/** A state of an ASL definition (only the fields the project relies on are typed). */
export interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly ItemProcessor?: AslStateMachine & { readonly ProcessorConfig?: Record<string, unknown> };
  readonly Iterator?: AslStateMachine;
  readonly Branches?: readonly AslStateMachine[];
  readonly [field: string]: unknown;
}

/** A (sub-)state machine: StartAt and States. */
export interface AslStateMachine {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, AslState>>;
}

/** A whole ASL definition. */
export interface AslDefinition extends AslStateMachine {
  readonly Comment?: string;
  readonly TimeoutSeconds?: number;
  readonly QueryLanguage?: string;
}

/** The minimal shape of a CloudFormation template this module reads. */
export interface CfnTemplate {
  readonly Resources?: Readonly<
    Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>
  >;
}

/** Values of the pseudo parameters under {@link defaultResolver}. */
export const LOCAL_PSEUDO_PARAMETERS: Readonly<Record<string, string>> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'local',
  'AWS::AccountId': '000000000000',
  'AWS::URLSuffix': 'amazonaws.com',
};

/** The ARN that stands in for the Lambda function with this logical id under {@link defaultResolver}. */
export function localFunctionArn(logicalId: string): string {
  return `arn:aws:lambda:local:000000000000:function:${logicalId}`;
}

/**
 * The default stand-ins: `{ "Fn::GetAtt": [id, "Arn"] }` → {@link localFunctionArn}(id),
 * `{ "Ref": "AWS::…" }` → {@link LOCAL_PSEUDO_PARAMETERS}, `{ "Ref": X }` → X.
 * @throws Error for any other intrinsic
 */
export const defaultResolver: IntrinsicResolver = (intrinsic) => {
  const getAtt = intrinsic['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt.length === 2 && getAtt[1] === 'Arn' && typeof getAtt[0] === 'string') {
    return localFunctionArn(getAtt[0]);
  }
  const ref = intrinsic.Ref;
  if (typeof ref === 'string') return LOCAL_PSEUDO_PARAMETERS[ref] ?? ref;
  throw new Error(`Cannot resolve ${JSON.stringify(intrinsic)} in the state machine definition`);
};

/**
 * Finds the `AWS::StepFunctions::StateMachine` resource of `template` and returns its definition
 * as an object, each intrinsic of its `DefinitionString` (`Fn::Join` parts) replaced by `resolve`.
 *
 * @param logicalId which state machine, when the template holds several
 * @throws Error when there is no (or, without `logicalId`, more than one) state machine
 * @example
 * const asl = stateMachineAsl(Template.fromStack(workflow).toJSON());
 * asl.States.Plan.Resource; // 'arn:aws:lambda:local:000000000000:function:PlanDAF4E53A'
 */
export function stateMachineAsl(
  template: CfnTemplate,
  resolve: IntrinsicResolver = defaultResolver,
  logicalId?: string,
): AslDefinition {
  const machines = Object.entries(template.Resources ?? {}).filter(
    ([id, resource]) =>
      resource.Type === 'AWS::StepFunctions::StateMachine' && (logicalId === undefined || id === logicalId),
  );
  const [machine, ...others] = machines;
  if (!machine || others.length > 0) {
    throw new Error(
      `Expected one state machine${logicalId ? ` '${logicalId}'` : ''} in the template, found ${machines.length}`,
    );
  }
  return JSON.parse(renderDefinition(machine[1].Properties?.DefinitionString, resolve)) as AslDefinition;
}

/**
 * Renders a DefinitionString (a plain string or `{ "Fn::Join": ["", parts] }`) to text.
 * @throws Error for any other shape
 */
export function renderDefinition(definition: unknown, resolve: IntrinsicResolver = defaultResolver): string {
  if (typeof definition === 'string') return definition;
  const join = isObject(definition) ? definition['Fn::Join'] : undefined;
  if (Array.isArray(join) && join.length === 2 && typeof join[0] === 'string' && Array.isArray(join[1])) {
    const [separator, parts] = join as [string, unknown[]];
    return parts
      .map((part) => (typeof part === 'string' ? part : renderDefinition(part, resolve)))
      .join(separator);
  }
  if (isObject(definition)) return resolve(definition);
  throw new Error(`Unexpected DefinitionString part ${JSON.stringify(definition)}`);
}

/**
 * Maps every Task state (map item processors included) whose Resource is one of the template's
 * Lambda functions to that function's `PARL_FUNCTION` (`plan`, `subagent`, `aggregate`): how the
 * local runtime binds Task states to in-process handlers. Expects the {@link defaultResolver}
 * (Resource = {@link localFunctionArn}).
 *
 * @example
 * taskFunctions(template, stateMachineAsl(template)); // { Plan: 'plan', RunSubagent: 'subagent', … }
 */
export function taskFunctions(template: CfnTemplate, definition: AslDefinition): Record<string, string> {
  const handlerByArn = new Map<string, string>();
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const variables = (
      resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined
    )?.Variables;
    const name = variables?.PARL_FUNCTION;
    if (typeof name === 'string') handlerByArn.set(localFunctionArn(id), name);
  }
  const bindings: Record<string, string> = {};
  for (const [stateName, state] of allStates(definition)) {
    const handler = state.Type === 'Task' && state.Resource ? handlerByArn.get(state.Resource) : undefined;
    if (handler) bindings[stateName] = handler;
  }
  return bindings;
}

/** Every state of a definition, nested ones (map processors, parallel branches) included. */
export function allStates(machine: AslStateMachine): Array<[string, AslState]> {
  return Object.entries(machine.States).flatMap(
    ([name, state]): Array<[string, AslState]> => [
      [name, state],
      ...[state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]
        .filter((nested): nested is AslStateMachine => nested !== undefined)
        .flatMap(allStates),
    ],
  );
}

function isObject(value: unknown): value is Intrinsic {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
