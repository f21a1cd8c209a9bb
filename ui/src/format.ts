import type { Environment, Installations, Language, Launch, Permission } from './types';

/** A duration in milliseconds for people: `850 ms`, `12 s`, `3 min 4 s`, `2 h 5 min`, `1 d 3 h`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 60) {
    const s = ms / 1000;
    return s < 10 ? `${s.toFixed(1).replace(/\.0$/, '')} s` : `${totalSeconds} s`;
  }
  const days = Math.floor(totalSeconds / 86400);
  const hours = Math.floor((totalSeconds % 86400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (days > 0) return hours ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  return seconds ? `${minutes} min ${seconds} s` : `${minutes} min`;
}

function ms(t: string | null | undefined): number | null {
  if (!t) return null;
  const v = Date.parse(t);
  return Number.isNaN(v) ? null : v;
}

/** How long a launch waited (accepted → started) and ran (started → finished, or now while it runs). */
export function launchDurations(launch: Pick<Launch, 'created_time' | 'started_time' | 'finished_time'>, now: number = Date.now()): { waited: number | null; ran: number | null } {
  const created = ms(launch.created_time);
  const started = ms(launch.started_time);
  const finished = ms(launch.finished_time);
  const waited = created == null ? null : (started ?? finished ?? now) - created;
  const ran = started == null ? null : (finished ?? now) - started;
  return { waited: waited != null && waited < 0 ? 0 : waited, ran: ran != null && ran < 0 ? 0 : ran };
}

/** An RFC 3339 time as `2026-03-02 10:15:04 UTC`; '—' when absent. */
export function formatTime(t: string | null | undefined): string {
  const v = ms(t);
  if (v == null) return '—';
  return new Date(v).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

export function versions(inst: Installations | null | undefined): string {
  const list = inst?.installations ?? [];
  return list.map((i) => i.version).join(', ');
}

export function envTitle(env: Pick<Environment, 'title' | 'name'>): string {
  return env.title?.trim() ? env.title : env.name;
}

/** "Everyone" when the list is empty, else "N users, M groups". */
export function accessSummary(permissions: Permission[] | undefined): string {
  const list = permissions ?? [];
  if (list.length === 0) return 'Everyone';
  const users = list.filter((p) => p.user_guid).length;
  const groups = list.filter((p) => p.group_guid).length;
  return `${users} ${users === 1 ? 'user' : 'users'}, ${groups} ${groups === 1 ? 'group' : 'groups'}`;
}

/**
 * The access line for someone who cannot list users and groups (a publisher): "Everyone", or
 * "Restricted: N users, M groups" and how they are in it. Connect's user record has no groups,
 * but a publisher only sees the environments they may use: not listed themselves, they are in
 * through one of the listed groups.
 */
export function accessForMe(permissions: Permission[] | undefined, me: string): string {
  const list = permissions ?? [];
  if (list.length === 0) return 'Everyone';
  const listed = list.some((p) => p.user_guid?.toLowerCase() === me.toLowerCase());
  const how = listed ? 'including you' : list.some((p) => p.group_guid) ? 'you through a group' : '';
  return `Restricted: ${accessSummary(list)}${how ? ` — ${how}` : ''}`;
}

export function installationsOf(env: Environment, lang: Language) {
  return env[lang]?.installations ?? [];
}

export function userLabel(u: { username: string; first_name?: string | null; last_name?: string | null }): string {
  const full = [u.first_name, u.last_name].filter(Boolean).join(' ');
  return full ? `${u.username} (${full})` : u.username;
}
