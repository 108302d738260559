/**
 * A small client of the REST API for `parl jobs`: a base URL and a tenant's key, JSON in and out.
 * Every failure is a {@link ApiCallError} naming what went wrong: the server's own error message,
 * or that nothing answers at the URL (connection refused) and how to start it.
 */
import { connectionCause } from '#shared/adapters/llm/openai-llm';
import { ParlError } from '#shared/domain/errors';
import type { StepRecord } from '#shared/domain/types';
import type { JobProgress } from '#shared/use-cases/jobs';

/** A failed call: an error answer of the API (`status`), or no answer at all (`status` 0). */
export class ApiCallError extends ParlError {
  constructor(
    message: string,
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApiCallError';
  }
}

/** A job as `GET /v1/jobs/{id}` shows it (the fields `parl jobs` reads). */
export interface JobView {
  jobId: string;
  status: string;
  acceptedAt: string;
  startedAt?: string;
  finishedAt?: string;
  request: { mode: string; task?: string; taskClass?: string } & Record<string, unknown>;
  plan?: { agents: number; maxConcurrency: number; mapMode: string; stage: number } & Record<string, unknown>;
  metrics?: Record<string, unknown> & {
    subagents: { spawned: number; completed: number };
    reward: number | null;
    costUsd: number;
  };
  result?: { answer: string } & Record<string, unknown>;
  error?: string;
  progress?: JobProgress;
}

interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** What to check when nothing answers at a local server's URL. */
export const LOCAL_SERVER_HINT = 'is parl serve running? give its URL with --url';

/** The REST API of one tenant at one base URL. */
export class JobsApi {
  /** `unreachableHint`: what to check when nothing answers (a local server's, a stack's API). */
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly unreachableHint = LOCAL_SERVER_HINT,
  ) {}

  async call<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { method, headers: { 'x-api-key': this.apiKey } });
    } catch (error) {
      throw new ApiCallError(
        `cannot reach the API at ${this.baseUrl}: ${connectionCause(error) ?? String(error)} (${this.unreachableHint})`,
        0,
        { cause: error },
      );
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : {};
    } catch (error) {
      throw new ApiCallError(
        `${method} ${path}: ${res.status}, not JSON: ${text.slice(0, 200)}`,
        res.status,
        {
          cause: error,
        },
      );
    }
    if (!res.ok) {
      const message = (body as { error?: { message?: string } }).error?.message ?? text.slice(0, 200);
      throw new ApiCallError(`${method} ${path}: ${res.status} ${message}`, res.status);
    }
    return body as T;
  }

  job(jobId: string): Promise<JobView> {
    return this.call('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
  }

  jobs(limit: number, cursor?: string): Promise<Page<JobView>> {
    return this.call(
      'GET',
      `/v1/jobs?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
  }

  cancel(jobId: string): Promise<JobView> {
    return this.call('POST', `/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  /** Every step of the job, page after page. */
  async steps(jobId: string): Promise<StepRecord[]> {
    const steps: StepRecord[] = [];
    let cursor: string | undefined;
    do {
      const page: Page<StepRecord> = await this.call(
        'GET',
        `/v1/jobs/${encodeURIComponent(jobId)}/steps?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      steps.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return steps;
  }
}
