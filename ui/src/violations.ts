import type { Violation } from './api';

/**
 * A violation's field as the API names it (`python.installations[0].version`,
 * `volume_mounts[1].target.path`, `name`) → the form's field key
 * (`python.installations.0.version`).
 */
export function fieldKey(path: string): string {
  return path
    .trim()
    .replace(/^\$\.?/, '')
    .replace(/\[(\d+)\]/g, '.$1')
    .replace(/\[["']?([^\]"']+)["']?\]/g, '.$1')
    .replace(/^\.+|\.+$/g, '')
    .replace(/\.{2,}/g, '.');
}

/** The id of the input (or group) that shows a field key's error. */
export function fieldId(key: string): string {
  return `f-${key.replace(/[^A-Za-z0-9_]+/g, '-')}`;
}

/**
 * The nearest field of the form a violation belongs to: the key itself when the form has it,
 * else its closest enclosing key (`volume_mounts.1.source.nfs_host` → `volume_mounts.1` when the
 * mount is a PVC); '' when none (shown above the form).
 */
export function resolveField(path: string, known: ReadonlySet<string>): string {
  let key = fieldKey(path);
  while (key) {
    if (known.has(key)) return key;
    const dot = key.lastIndexOf('.');
    key = dot < 0 ? '' : key.slice(0, dot);
  }
  return '';
}

/** Groups violations by the form field they are shown next to ('' = the whole form). */
export function mapViolations(violations: Violation[], known: ReadonlySet<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const v of violations) {
    const key = resolveField(v.field, known);
    const list = out.get(key) ?? [];
    list.push(v.description || 'Invalid value');
    out.set(key, list);
  }
  return out;
}
