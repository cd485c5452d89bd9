/**
 * Caps how many of one kind of long request (uploads) each tenant has running in this process, so
 * one tenant's slow clients cannot take what every tenant shares (sockets, memory, pool connections).
 */
export class TenantSlots {
  private readonly inUse = new Map<string, number>();

  constructor(readonly perTenant: number) {}

  /** A release function (idempotent), or undefined when the tenant already uses all its slots. */
  tryAcquire(tenantId: string): (() => void) | undefined {
    const used = this.inUse.get(tenantId) ?? 0;
    if (used >= this.perTenant) return undefined;
    this.inUse.set(tenantId, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inUse.get(tenantId) ?? 1) - 1;
      if (left === 0) this.inUse.delete(tenantId);
      else this.inUse.set(tenantId, left);
    };
  }
}
