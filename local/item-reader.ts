/**
 * Local support for a Distributed Map's `ItemReader`, which aws-local-stepfunctions 3 does not
 * implement (its Map state reads `ItemsPath` or the state input, and ignores `ItemReader`).
 *
 * {@link withLocalItemReaders} rewrites the synthesized definition mechanically, not by hand: each
 * Map state whose `ItemReader` reads one S3 object (`arn:aws:states:::s3:getObject`) is preceded by
 * a Task state that runs the reader (same `Parameters`, same `ReaderConfig`) and puts the items
 * into the state, and the Map reads them from there through `ItemsPath`. Every transition into the
 * Map (StartAt, Next, Choice rules and Default, Catch) is redirected to the reader, and the Map's
 * Catch rules apply to the reader too, as a failed ItemReader fails the Map in the cloud. The
 * reader ({@link s3ItemReader}) gets the object through an S3 client (fauxqs locally). A Map's
 * `ResultWriter` is dropped: the interpreter does not write child results to S3, and the workflow's
 * Maps discard their results (ResultPath null) anyway.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { AslDefinition, AslState, AslStateMachine } from '#cdk/asl';
import { parseCsv } from '#shared/domain/batch';
import { ParlError } from '#shared/domain/errors';

/** The resource of an ItemReader that reads one S3 object. */
export const S3_GET_OBJECT = 'arn:aws:states:::s3:getObject';

/** The error a failed reader throws (the cloud's name for a failed ItemReader). */
export class ItemReaderFailedError extends ParlError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'States.ItemReaderFailed';
  }
}

/** What the reader Task receives: the ItemReader's resolved Parameters plus its ReaderConfig. */
export interface ItemReaderInput {
  Bucket: string;
  Key: string;
  ReaderConfig?: { InputType?: string; CSVHeaderLocation?: string; CSVHeaders?: string[]; MaxItems?: number };
}

/** The name of the reader state inserted before Map `mapName`. */
export const readerStateName = (mapName: string) => `${mapName}ItemReader`;
/** Where the reader puts the items in the state. */
const itemsField = (mapName: string) => `localItems${mapName.replace(/[^A-Za-z0-9]/g, '')}`;

type MutableState = Record<string, unknown> & { Type: string };
type MutableMachine = { StartAt: string; States: Record<string, MutableState> };

/**
 * Returns a copy of `definition` in which every Map with an S3 `ItemReader` reads its items through
 * an inserted Task state, and the names of those Task states (bind them to {@link s3ItemReader}).
 */
export function withLocalItemReaders(definition: AslDefinition): {
  definition: AslDefinition;
  readerStates: string[];
} {
  const copy = structuredClone(definition) as unknown as MutableMachine;
  const readerStates: string[] = [];
  rewrite(copy, readerStates);
  return { definition: copy as unknown as AslDefinition, readerStates };
}

function rewrite(machine: MutableMachine, readerStates: string[]): void {
  for (const state of Object.values(machine.States)) {
    const processor = (state.ItemProcessor ?? state.Iterator) as MutableMachine | undefined;
    if (processor) rewrite(processor, readerStates);
    for (const branch of (state.Branches as MutableMachine[] | undefined) ?? [])
      rewrite(branch, readerStates);
  }
  for (const [name, state] of Object.entries(machine.States)) {
    const reader = state.ItemReader as
      | { Resource?: string; Parameters?: unknown; ReaderConfig?: unknown }
      | undefined;
    // The child results are not kept locally (the workflow's Maps discard them: ResultPath null).
    if (state.Type === 'Map') delete state.ResultWriter;
    if (state.Type !== 'Map' || !reader) continue;
    if (reader.Resource !== S3_GET_OBJECT) {
      throw new Error(
        `Map ${name}: the local runtime reads ItemReader ${S3_GET_OBJECT} only, not ${reader.Resource}`,
      );
    }
    const readerName = readerStateName(name);
    if (machine.States[readerName]) throw new Error(`state ${readerName} already exists`);
    redirect(machine, name, readerName);
    const field = itemsField(name);
    machine.States[readerName] = {
      Type: 'Task',
      Comment: `Local ItemReader of ${name} (${S3_GET_OBJECT})`,
      Resource: `arn:aws:lambda:local:000000000000:function:${readerName}`,
      Parameters: {
        ...(reader.Parameters as Record<string, unknown>),
        ReaderConfig: reader.ReaderConfig ?? {},
      },
      ResultPath: `$.${field}`,
      Next: name,
      ...(state.Catch ? { Catch: structuredClone(state.Catch) } : {}),
    };
    delete state.ItemReader;
    state.ItemsPath = `$.${field}`;
    readerStates.push(readerName);
  }
}

function redirect(machine: MutableMachine, from: string, to: string): void {
  if (machine.StartAt === from) machine.StartAt = to;
  for (const state of Object.values(machine.States)) {
    if (state.Next === from) state.Next = to;
    if (state.Default === from) state.Default = to;
    for (const rule of (state.Choices as { Next?: string }[] | undefined) ?? [])
      if (rule.Next === from) rule.Next = to;
    for (const c of (state.Catch as { Next?: string }[] | undefined) ?? []) if (c.Next === from) c.Next = to;
  }
}

/**
 * The reader: gets the object and parses it as the ItemReader's `ReaderConfig.InputType` says
 * (`JSON`: an array; `JSONL`: one item per line; `CSV` with `CSVHeaderLocation` FIRST_ROW or given
 * `CSVHeaders`: one object of strings per row), keeping at most `MaxItems`.
 */
export function s3ItemReader(s3: S3Client): (input: ItemReaderInput) => Promise<unknown[]> {
  return async (input) => {
    let text: string;
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: input.Bucket, Key: input.Key }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      throw new ItemReaderFailedError(`s3://${input.Bucket}/${input.Key} cannot be read`, { cause: error });
    }
    const config = input.ReaderConfig ?? {};
    let items: unknown[];
    try {
      items = parseItems(text, config);
    } catch (error) {
      throw new ItemReaderFailedError(
        `s3://${input.Bucket}/${input.Key} is not valid ${config.InputType ?? 'JSON'}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    return config.MaxItems ? items.slice(0, config.MaxItems) : items;
  };
}

function parseItems(text: string, config: NonNullable<ItemReaderInput['ReaderConfig']>): unknown[] {
  switch (config.InputType ?? 'JSON') {
    case 'JSON': {
      const value = JSON.parse(text) as unknown;
      if (!Array.isArray(value)) throw new Error('the object must hold a JSON array');
      return value;
    }
    case 'JSONL':
      return text
        .split(/\r?\n/)
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as unknown);
    case 'CSV': {
      const rows = parseCsv(text);
      const headers = config.CSVHeaderLocation === 'GIVEN' ? (config.CSVHeaders ?? []) : (rows.shift() ?? []);
      return rows.map((row) => Object.fromEntries(headers.map((h, i) => [h, row[i] ?? ''])));
    }
    default:
      throw new Error(`InputType ${config.InputType} is not supported locally`);
  }
}

/** Whether a definition has a Map with an ItemReader anywhere. */
export function hasItemReader(machine: AslStateMachine): boolean {
  return Object.values(machine.States).some(
    (s: AslState) =>
      (s.Type === 'Map' && s.ItemReader !== undefined) ||
      (s.ItemProcessor ? hasItemReader(s.ItemProcessor) : false) ||
      (s.Iterator ? hasItemReader(s.Iterator) : false),
  );
}
