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

/** An interactive launch's cold start: accepted → first ready, in ms; null until it was ready. */
export function coldStart(launch: Pick<Launch, 'created_time' | 'ready_time'>): number | null {
  const created = ms(launch.created_time);
  const ready = ms(launch.ready_time);
  if (created == null || ready == null) return null;
  return Math.max(0, ready - created);
}

/** The newest and the median cold start of the launches that became ready. */
export function coldStartStats(launches: Pick<Launch, 'created_time' | 'ready_time'>[]): { last: number | null; median: number | null } {
  const ready = launches
    .map((l) => ({ at: ms(l.ready_time), took: coldStart(l) }))
    .filter((c): c is { at: number; took: number } => c.at != null && c.took != null)
    .sort((a, b) => a.at - b.at);
  return { last: ready.length ? ready[ready.length - 1].took : null, median: median(ready.map((c) => c.took)) };
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A request latency: tenths below 10 ms (`3.1 ms`), then as formatDuration (`21 ms`, `1.5 s`). */
export function formatLatency(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 10) return `${ms.toFixed(1).replace(/\.0$/, '')} ms`;
  return formatDuration(ms);
}

/** How long until `t` (an idle stop): a duration, `now` once it has passed, '—' when there is none. */
export function formatUntil(t: string | null | undefined, now: number = Date.now()): string {
  const at = ms(t);
  if (at == null) return '—';
  return at <= now ? 'now' : formatDuration(at - now);
}

/** `1 request`, `40 requests`, `12,345 requests`. */
export function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : `${word}s`}`;
}

const RESTARTING = new Set(['Restarting', 'CrashLoopBackOff']);

/** An interactive launch whose app exited and is waiting to be started again. */
export function isRestarting(launch: Pick<Launch, 'kind' | 'state' | 'reason'>): boolean {
  return launch.kind === 'interactive' && launch.state === 'running' && RESTARTING.has(launch.reason);
}

/** What a launch's page says above its fields: an interactive app restarting or unable to start. */
export function launchNotice(launch: Pick<Launch, 'kind' | 'state' | 'reason' | 'message'>): { tone: 'warn' | 'error'; text: string } | null {
  if (launch.kind !== 'interactive') return null;
  const detail = launch.message ? `: ${launch.message}` : '';
  if (isRestarting(launch)) return { tone: 'warn', text: `The app is restarting (${launch.reason})${detail}` };
  if (launch.state === 'failed') return { tone: 'error', text: `The app cannot start (${launch.reason || 'failed'})${detail}` };
  return null;
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
