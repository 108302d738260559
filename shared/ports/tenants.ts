import type { Tenant, TenantSettings } from '#shared/domain/tenant';
import type { Page } from '#shared/ports/paging';

/** Tenants and their keys. */
export interface TenantStore {
  /** Stores a new tenant; fails if the id exists. */
  createTenant(tenant: Tenant): Promise<void>;
  getTenant(tenantId: string): Promise<Tenant | undefined>;
  listTenants(opts?: { limit?: number; cursor?: string }): Promise<Page<Tenant>>;
  /** Adds `deltaUsd` (may be negative, never below what is available) to the budget and balance. */
  adjustBudget(tenantId: string, deltaUsd: number): Promise<Tenant>;
  /** Changes the given settings and nothing else. */
  updateSettings(tenantId: string, settings: TenantSettings): Promise<Tenant>;
  revokeKey(tenantId: string): Promise<void>;
  /**
   * Replaces the key hash (a new key) of an ACTIVE tenant; a revoked one is refused
   * (StateConflictError) unless `reactivate`, which makes it ACTIVE again with the new key.
   */
  rotateKey(tenantId: string, keyHash: string, opts?: { reactivate?: boolean }): Promise<void>;
}
