/**
 * The `parl` process's own streams: stdout carries only the command's output (a report, a JSON
 * document), so every log line goes to stderr, and the one warning every command would print
 * (node:sqlite, loaded by fauxqs, is experimental in Node 22) is dropped; a failed command is one
 * line on stderr and an exit code.
 */
import { Console } from 'node:console';
import { UsageError } from './flags';

/** Drops Node's `ExperimentalWarning: SQLite is an experimental feature …`; every other warning stays. */
export function dropSqliteWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const text = typeof warning === 'string' ? warning : warning.message;
    const name = typeof warning === 'string' ? type : warning.name;
    if (name === 'ExperimentalWarning' && /SQLite/.test(text)) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/**
 * Handler logs (Powertools Logger) on stderr: the loggers of the local functions, bundled ones
 * included, print through the global console in Powertools' dev mode, and that console writes to
 * stderr. Call before the local stack is loaded.
 */
export function logsToStderr(): void {
  process.env.POWERTOOLS_DEV = 'true';
  globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
}

/** Runs a command: a UsageError is one message and exit code 2, anything else exit code 1. */
export async function reportErrors(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`parl: ${error.message}\n(nothing was started; see parl --help)\n`);
      return 2;
    }
    process.stderr.write(`parl: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
