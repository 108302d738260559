import { parseRunArgs, UsageError } from '#cli/main';
import { thrown } from './thrown';

/** The message of the UsageError that `parl run` gives for `argv` (another error fails the test). */
export function messageOf(argv: string[]): string {
  const error = thrown(() => parseRunArgs(argv, {}));
  if (!(error instanceof UsageError)) throw error;
  return error.message;
}
