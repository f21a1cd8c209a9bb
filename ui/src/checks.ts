// Environments' checks against their images (drift), in words for the environments page.

import type { CheckState, EnvironmentCheck } from './types';

export const CHECK_LABELS: Record<CheckState, string> = {
  pending: 'pending',
  ok: 'ok',
  drift: 'drift',
  unreadable: 'unreadable',
};

/** What each state means, for the badge's title and screen readers. */
export const CHECK_MEANINGS: Record<CheckState, string> = {
  pending: 'The image has not been checked yet.',
  ok: 'Every declared installation is in the image with the declared version.',
  drift: 'A declared installation is missing from the image or has another version.',
  unreadable: 'The image could not be read from its registry.',
};

/** Whether an environment in this state needs someone's attention. */
export function needsAttention(state: CheckState): boolean {
  return state === 'drift' || state === 'unreadable';
}

/** A digest as people compare them: its algorithm dropped, 12 hex digits. */
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) return '';
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

/** One line saying how the environment stands: the first drift, why the image is unreadable, or the state's meaning. */
export function checkSummary(check: EnvironmentCheck): string {
  if (check.state === 'unreadable' && check.unreadable) return check.unreadable.message;
  const drift = check.findings.filter((f) => f.drift);
  if (check.state === 'drift' && drift.length > 0) {
    return drift.length === 1 ? drift[0].message : `${drift[0].message} (and ${drift.length - 1} more)`;
  }
  return CHECK_MEANINGS[check.state];
}

/** The checks by environment guid. */
export function byGuid(checks: EnvironmentCheck[]): Map<string, EnvironmentCheck> {
  return new Map(checks.map((c) => [c.guid, c]));
}
