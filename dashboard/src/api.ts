/**
 * The dashboard's only way to the service: the same REST API a tenant calls, with the tenant's API
 * key from sessionStorage (gone when the tab closes). The API's base URL comes from `config.json`
 * beside the page (empty: the page's own origin, as under `parl serve`).
 */
import type { JobMetrics, JobStatus, StepRecord } from '#shared/domain/types';

const KEY_ITEM = 'parl.apiKey';

export interface JobView {
  jobId: string;
  status: JobStatus;
  acceptedAt: string;
  startedAt?: string;
  finishedAt?: string;
  request: { task: string; mode: string; taskClass?: string; workload?: string; policy?: string };
  plan?: { stage: number; agents: number; maxConcurrency: number; mapMode: string; subtasks: number };
  metrics?: JobMetrics;
  error?: string;
  /** While RUNNING (when the API reports it): sub-agents done/failed/total and steps so far. */
  progress?: { subagents?: { done?: number; failed?: number; total?: number }; steps?: number };
}

export interface PolicyView {
  taskClass: string;
  jobs: number;
  arms: { id: string; width: number; itemsPerAgent?: number; count: number; meanReward: number | null }[];
  best?: { id: string } | string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Reads `#key=…` from the address (as `parl serve` prints it) into sessionStorage, then drops it. */
export function takeKeyFromLocation(): void {
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(KEY_ITEM, decodeURIComponent(match[1]!));
  history.replaceState(null, '', `${location.pathname}${location.search}#/jobs`);
}

export const apiKey = (): string | null => sessionStorage.getItem(KEY_ITEM);
export const setApiKey = (key: string): void => sessionStorage.setItem(KEY_ITEM, key.trim());
export const forgetApiKey = (): void => sessionStorage.removeItem(KEY_ITEM);

let base: Promise<string> | undefined;

function apiBase(): Promise<string> {
  base ??= fetch('config.json')
    .then((r) => (r.ok ? (r.json() as Promise<{ apiUrl?: string }>) : {}))
    .then((c: { apiUrl?: string }) => (c.apiUrl ?? '').replace(/\/$/, ''))
    .catch(() => '');
  return base;
}

export async function getJson<T>(path: string): Promise<T> {
  const key = apiKey();
  if (!key) throw new ApiError(401, 'no API key');
  const res = await fetch(`${await apiBase()}${path}`, { headers: { 'x-api-key': key } });
  const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  if (!res.ok) throw new ApiError(res.status, body.error?.message ?? `HTTP ${res.status}`);
  return body as T;
}

export const listJobs = (cursor?: string, limit = 20) =>
  getJson<{ items: JobView[]; nextCursor?: string }>(
    `/v1/jobs?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
  );

export const getJob = (id: string) => getJson<JobView>(`/v1/jobs/${encodeURIComponent(id)}`);

/** Every step of a job (all pages). */
export async function getSteps(id: string): Promise<StepRecord[]> {
  const out: StepRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await getJson<{ items: StepRecord[]; nextCursor?: string }>(
      `/v1/jobs/${encodeURIComponent(id)}/steps?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** Up to `max` of the newest jobs (for the comparison and the policy's history). */
export async function recentJobs(max = 500): Promise<JobView[]> {
  const out: JobView[] = [];
  let cursor: string | undefined;
  do {
    const page = await listJobs(cursor, 100);
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && out.length < max);
  return out;
}

export const getPolicies = () => getJson<{ policies: PolicyView[] }>('/v1/policy');

/** The newest A/B bench report, when the server has one (`parl serve` serves bench/results). */
export async function benchReport(): Promise<Record<string, unknown> | null> {
  const res = await fetch('bench/ab.json').catch(() => null);
  return res?.ok ? ((await res.json()) as Record<string, unknown>) : null;
}
