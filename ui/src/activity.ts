/** The fields that differ between two versions of an environment (top-level keys, values as JSON). */
export function diffFields(before: Record<string, unknown> | null, after: Record<string, unknown> | null): { field: string; before: string; after: string }[] {
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  const skip = new Set(['updated_time', 'updated_at', 'revision']);
  const out: { field: string; before: string; after: string }[] = [];
  for (const k of [...keys].sort()) {
    if (skip.has(k)) continue;
    const b = show(before?.[k]);
    const a = show(after?.[k]);
    if (b !== a) out.push({ field: k, before: b, after: a });
  }
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** One entry added to or removed from an environment's access list by a change. */
export interface PermissionChange {
  change: 'added' | 'removed';
  kind: 'user' | 'group';
  /** The user's or group's guid. */
  guid: string;
}

/**
 * The access-list entries a change added and removed, from the environment's stored form before
 * and after it (`permissions: [{guid, principal: {user: GUID} | {group: GUID}}]`).
 */
export function permissionChanges(before: Record<string, unknown> | null, after: Record<string, unknown> | null): PermissionChange[] {
  const entries = (state: Record<string, unknown> | null) => {
    const list = Array.isArray(state?.permissions) ? (state.permissions as unknown[]) : [];
    const out = new Map<string, { kind: 'user' | 'group'; guid: string }>();
    for (const p of list) {
      if (!p || typeof p !== 'object') continue;
      const { guid, principal } = p as { guid?: unknown; principal?: unknown };
      if (typeof guid !== 'string' || !principal || typeof principal !== 'object') continue;
      const { user, group } = principal as { user?: unknown; group?: unknown };
      if (typeof user === 'string') out.set(guid, { kind: 'user', guid: user });
      else if (typeof group === 'string') out.set(guid, { kind: 'group', guid: group });
    }
    return out;
  };
  const was = entries(before);
  const is = entries(after);
  const out: PermissionChange[] = [];
  for (const [id, e] of is) if (!was.has(id)) out.push({ change: 'added', ...e });
  for (const [id, e] of was) if (!is.has(id)) out.push({ change: 'removed', ...e });
  return out;
}
