/** What every page of the dashboard is: drawn into a root element, stopped when left. */
export type Stop = () => void;
export type View = (root: HTMLElement, params: URLSearchParams, path: string[]) => Stop;

/**
 * Calls `tick` now and every `everyMs` until stopped or until it returns false (e.g. a finished job).
 * A tick never overlaps the previous one.
 */
export function poll(tick: () => Promise<boolean>, everyMs: number, onError: (e: unknown) => void): Stop {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    let again = true;
    try {
      again = await tick();
    } catch (error) {
      onError(error);
    }
    if (!stopped && again) timer = setTimeout(run, everyMs);
  };
  void run();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
