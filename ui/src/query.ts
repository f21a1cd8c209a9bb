import type { Language } from './types';

export type SortKey = 'title' | 'name' | 'created' | 'updated' | 'matching' | 'python' | 'r' | 'quarto';

export interface EnvQuery {
  search?: string;
  language?: Language | '';
  version?: string;
  matching?: 'any' | 'exact' | 'none' | '';
  managed?: 'true' | 'false' | '';
  sort?: SortKey;
  order?: 'asc' | 'desc';
  page_size?: number;
  page_token?: string;
}

/** The query string of GET /__api__/execenv/v1/environments: empty values left out, the version only with a language. */
export function environmentsQuery(q: EnvQuery): string {
  const params = new URLSearchParams();
  const search = q.search?.trim();
  if (search) params.set('search', search);
  if (q.language) {
    params.set('language', q.language);
    const version = q.version?.trim();
    if (version) params.set('version', version);
  }
  if (q.matching) params.set('matching', q.matching);
  if (q.managed) params.set('managed', q.managed);
  if (q.sort && q.sort !== 'title') params.set('sort', q.sort);
  if (q.order === 'desc') params.set('order', 'desc');
  if (q.page_size && q.page_size !== 50) params.set('page_size', String(q.page_size));
  if (q.page_token) params.set('page_token', q.page_token);
  const s = params.toString();
  return s ? `?${s}` : '';
}

export interface ChangesQuery {
  environment_guid?: string;
  since?: string;
  until?: string;
  page_size?: number;
  page_token?: string;
}

/** The query string of GET /__api__/execenv/v1/changes; times are sent as RFC 3339 in UTC. */
export function changesQuery(q: ChangesQuery): string {
  const params = new URLSearchParams();
  const env = q.environment_guid?.trim();
  if (env) params.set('environment_guid', env);
  const since = toRfc3339(q.since);
  if (since) params.set('since', since);
  const until = toRfc3339(q.until);
  if (until) params.set('until', until);
  if (q.page_size) params.set('page_size', String(q.page_size));
  if (q.page_token) params.set('page_token', q.page_token);
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** A `datetime-local` value (local time) or an RFC 3339 string → RFC 3339 UTC; '' when empty or invalid. */
export function toRfc3339(value: string | undefined): string {
  if (!value || !value.trim()) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  return d.toISOString().replace(/\.000Z$/, 'Z');
}
