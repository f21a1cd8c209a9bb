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
