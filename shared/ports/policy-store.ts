import type { PolicyState } from '#shared/domain/policy';

/** The fan-out policies, one per (tenant, task class). */
export interface PolicyStore {
  /** The stored policy, or undefined when the task class has none yet. */
  get(tenantId: string, taskClass: string): Promise<PolicyState | undefined>;
  /** Every policy of a tenant, by task class. */
  list(tenantId: string): Promise<PolicyState[]>;
  /**
   * Reads the policy (or `initial` when there is none), applies `change`, and writes the result only
   * if nobody wrote in between (conditional on `version`); on a conflict it reads again and retries,
   * so concurrent updates are never lost. A change that returns the state it was given writes nothing.
   */
  update(
    tenantId: string,
    taskClass: string,
    initial: () => PolicyState,
    change: (current: PolicyState) => PolicyState,
  ): Promise<PolicyState>;
}
