/**
 * The workload registry: every caller asks {@link workloadOf} for a workload's parts (system
 * prompt, tools, answer parsing, scoring, dataset checks) instead of testing its name. To add a
 * workload, write `workloads/<name>/workload.ts` with {@link defineWorkload} and list it here.
 */
import { bmaWorkload } from './bma/workload';
import { genericWorkload } from './generic/workload';
import type { Dataset, Workload } from './workload';

const WORKLOADS = [genericWorkload, bmaWorkload] as const;

/** The name of a registered workload, as a request and a stored job carry it. */
export type WorkloadName = (typeof WORKLOADS)[number]['name'];

/** The registered names, the default first (the request schema's enum). */
export const WORKLOAD_NAMES = WORKLOADS.map((w) => w.name) as [WorkloadName, ...WorkloadName[]];

/** The workload of a request that names none and carries no dataset that selects one. */
export const DEFAULT_WORKLOAD: WorkloadName = genericWorkload.name;

/** The registered workload `name`; a TypeError for a name no workload has (a stored job from another version). */
export function workloadOf(name: WorkloadName): Workload<WorkloadName> {
  const workload = WORKLOADS.find((w) => w.name === name);
  if (!workload) throw new TypeError(`no workload named "${name}"`);
  return workload;
}

/** The workload a request without `workload` gets: the first whose dataset it carries, else the default. */
export function inferWorkload(dataset: Dataset | undefined): WorkloadName {
  return (
    WORKLOADS.find((w) => w.datasetKey !== undefined && dataset?.[w.datasetKey])?.name ?? DEFAULT_WORKLOAD
  );
}
