/** What every `parl` command shares: the usage error and flag parsers. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ParlError } from '#shared/domain/errors';
import { closest } from './suggest';

/**
 * Bad command-line input: printed as one message, exit code 2, nothing started. The one error
 * class of the CLI; a wrapped error stays reachable as `cause`.
 */
export class UsageError extends ParlError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** An integer flag in [min, max], or undefined when absent; UsageError otherwise. */
export const intFlag = (
  name: string,
  raw: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
};

/** A finite number flag in [min, max], or undefined when absent; UsageError otherwise. */
export const numberFlag = (
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
): number | undefined => {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
};

/** `unknown option --tenat; did you mean --tenant?` for parseArgs' unknown-option error, else undefined. */
function unknownOption(error: unknown, options: NonNullable<ParseArgsConfig['options']>): string | undefined {
  if ((error as { code?: string }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return undefined;
  const flag = /Unknown option '(-{1,2}[^']+)'/.exec((error as Error).message)?.[1];
  if (flag === undefined) return undefined;
  const hit = closest(flag.replace(/^-+/, ''), Object.keys(options));
  return `unknown option ${flag}${hit ? `; did you mean --${hit}?` : ''}`;
}

/** Parsed flags: the values, the positionals, and a string flag by name (undefined when absent). */
export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  str(name: string): string | undefined;
}

/** Parses a command's flags strictly; an unknown flag or one without its value is a UsageError. */
export function parseFlags(
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig['options']>,
  opts: { allowPositionals?: boolean; usage?: string } = {},
): ParsedFlags {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: opts.allowPositionals ?? false,
      options,
    });
  } catch (error) {
    const message = unknownOption(error, options) ?? (error instanceof Error ? error.message : String(error));
    throw new UsageError(opts.usage ? `${message}; ${opts.usage}` : message, { cause: error });
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  return {
    values,
    positionals: parsed.positionals,
    str: (name) => (typeof values[name] === 'string' ? (values[name] as string) : undefined),
  };
}

/**
 * The flags of a `parl <command> <subcommand> [flags]` command with one subcommand: a missing or
 * other subcommand, an unknown flag or a flag without its value is a UsageError that ends in `usage`.
 */
export function subcommandFlags(
  argv: readonly string[],
  subcommand: string,
  options: NonNullable<ParseArgsConfig['options']>,
  usage: string,
): Record<string, string | boolean | undefined> {
  const [sub, ...rest] = argv;
  if (sub !== subcommand) {
    throw new UsageError(
      `${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`}; ${usage}`,
    );
  }
  return parseFlags(rest, options, { usage }).values;
}
