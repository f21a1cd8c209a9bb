// The page's only way to the gateway: same-origin fetch with the session cookie. The CSRF token
// lives in this module's memory only (never in storage); every mutating request carries it.

import type { ChecksPage, CheckState, EnvironmentCheck, Finding, ImageExamination, Instance, InstanceTotals, Instances, Launch } from './types';

export interface Violation {
  field: string;
  description: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: number | null;
  readonly violations: Violation[];

  constructor(status: number, message: string, code: number | null = null, violations: Violation[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.violations = violations;
  }
}

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function getCsrfToken(): string | null {
  return csrfToken;
}

/** Called when a request other than the session probe answers 401 (the session ended). */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isMutating(method: string): boolean {
  return !SAFE.has(method.toUpperCase());
}

/** Builds the request headers: JSON when there is a body, X-CSRF-Token on mutating methods. */
export function requestHeaders(method: string, hasBody: boolean, extra?: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { Accept: 'application/json', ...extra };
  if (hasBody) headers['Content-Type'] = 'application/json';
  if (isMutating(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  return headers;
}

/** Turns an error answer (Connect's `{code, error, payload}` or anything else) into an ApiError. */
export async function parseError(response: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // the body could not be read: the status says enough
  }
  try {
    const body = JSON.parse(text) as { code?: unknown; error?: unknown; payload?: unknown };
    const code = typeof body.code === 'number' ? body.code : null;
    const message = typeof body.error === 'string' && body.error ? body.error : `${response.status} ${response.statusText}`.trim();
    const payload = body.payload as { violations?: unknown } | null | undefined;
    const violations: Violation[] = [];
    if (payload && Array.isArray(payload.violations)) {
      for (const v of payload.violations) {
        if (v && typeof v === 'object') {
          const { field, description } = v as { field?: unknown; description?: unknown };
          violations.push({ field: typeof field === 'string' ? field : '', description: typeof description === 'string' ? description : String(description ?? '') });
        }
      }
    }
    return new ApiError(response.status, message, code, violations);
  } catch {
    const message = text.trim() || `${response.status} ${response.statusText}`.trim() || 'The request failed';
    return new ApiError(response.status, message.slice(0, 500));
  }
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Do not report a 401 to the unauthorized handler (the session probe and sign-in). */
  quiet401?: boolean;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const hasBody = options.body !== undefined;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: requestHeaders(method, hasBody),
      body: hasBody ? JSON.stringify(options.body) : undefined,
      signal: options.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The gateway cannot be reached');
  }
  if (!response.ok) {
    const error = await parseError(response);
    if (response.status === 401 && !options.quiet401 && onUnauthorized) onUnauthorized();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, { signal }),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, { body }),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, { body }),
  del: <T = void>(path: string) => request<T>('DELETE', path),
};

export const V1 = '/__api__/v1';
export const EXECENV = '/__api__/execenv/v1';

export function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** What `GET /launches` filters on; `state` may name several states, comma-separated. */
export interface LaunchFilter {
  state?: string;
  kind?: string;
  content_guid?: string;
}

/** `/__api__/execenv/v1/launches` with the filters that are set. */
export function launchesPath(filter: LaunchFilter = {}): string {
  const params = new URLSearchParams();
  for (const name of ['state', 'kind', 'content_guid'] as const) {
    const value = filter[name]?.trim();
    if (value) params.set(name, value);
  }
  const qs = params.toString();
  return `${EXECENV}/launches${qs ? `?${qs}` : ''}`;
}

/** One launch's resource; its logs and cancel hang below it. */
export function launchPath(id: string): string {
  return `${EXECENV}/launches/${enc(id)}`;
}

export const launches = {
  list: (filter: LaunchFilter = {}, signal?: AbortSignal) => api.get<Launch[]>(launchesPath(filter), signal),
  get: (id: string, signal?: AbortSignal) => api.get<Launch>(launchPath(id), signal),
  /** Cancels a build or run; stops an interactive launch (the gateway starts another on the next request). */
  cancel: (id: string) => api.post<Launch | undefined>(`${launchPath(id)}/cancel`),
};

/**
 * This gateway's interactive instances and their totals; null when the caller may not read them
 * (a viewer: 403) or the gateway has no such route (404), so that the page leaves the summary out.
 */
export async function getInstances(signal?: AbortSignal): Promise<Instances | null> {
  try {
    return instancesFrom(await api.get<LooseInstances>(`${EXECENV}/instances`, signal));
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 404)) return null;
    throw e;
  }
}

/** Where the gateway serves a content: same origin as the console, so the session cookie applies. */
export function contentPath(guid: string): string {
  return `/content/${enc(guid)}/`;
}

type Loose<T> = { [K in keyof T]?: T[K] | null };
type LooseInstances = Loose<Pick<Instances, 'idle_timeout_s'>> & { instances?: Loose<Instance>[] | null; totals?: Loose<InstanceTotals> | null };

/**
 * The instances answer as the page reads it: a count the gateway leaves out is 0, a time or
 * latency null, a list empty, so that a missing field cannot break the launches page.
 */
export function instancesFrom(body: LooseInstances): Instances {
  const t = body.totals ?? {};
  return {
    idle_timeout_s: body.idle_timeout_s ?? 0,
    instances: (body.instances ?? []).map((i) => ({
      content_guid: i.content_guid ?? '',
      launch_id: i.launch_id ?? '',
      bundle: i.bundle ?? '',
      state: i.state ?? 'starting',
      address: i.address ?? '',
      cold_start_ms: i.cold_start_ms ?? null,
      requests: i.requests ?? 0,
      websockets: i.websockets ?? 0,
      last_request_time: i.last_request_time ?? null,
      idle_stop_time: i.idle_stop_time ?? null,
    })),
    totals: {
      cold_starts: t.cold_starts ?? 0,
      idle_stops: t.idle_stops ?? 0,
      requests: t.requests ?? 0,
      request_p50_ms: t.request_p50_ms ?? null,
      request_p99_ms: t.request_p99_ms ?? null,
    },
  };
}

/** Asks the image examiner (through the gateway) what `image` holds; administrators only. */
export function examineImage(image: string, platform?: string): Promise<ImageExamination> {
  return api.post<ImageExamination>(`${EXECENV}/images/examine`, platform ? { image, platform } : { image });
}

/**
 * Every environment's check against its image; null when the gateway has no image examiner or
 * cannot reach it (503), the caller may not read checks (403) or the gateway has no such route
 * (404), so that the page shows no badges instead of failing.
 */
export async function getChecks(signal?: AbortSignal): Promise<ChecksPage | null> {
  try {
    return checksFrom(await api.get<LooseChecks>(`${EXECENV}/checks`, signal));
  } catch (e) {
    if (e instanceof ApiError && [403, 404, 503].includes(e.status)) return null;
    throw e;
  }
}

/** Checks every environment now (administrators); answers the checks as the round left them. */
export async function refreshChecks(): Promise<EnvironmentCheck[]> {
  const body = await api.post<LooseChecks>(`${EXECENV}/checks/refresh`);
  return checksFrom(body ?? {}).checks;
}

type LooseCheck = Loose<EnvironmentCheck> & { findings?: Loose<Finding>[] | null };
type LooseChecks = { checks?: LooseCheck[] | null; interval_seconds?: number | null };

const STATES: CheckState[] = ['pending', 'ok', 'drift', 'unreadable'];

/**
 * The checks answer as the page reads it: a state it does not know is `pending`, a list the
 * gateway leaves out empty, a missing text null, so that an answer of another release cannot
 * break the environments page.
 */
export function checksFrom(body: LooseChecks): ChecksPage {
  return {
    interval_seconds: body.interval_seconds ?? 0,
    checks: (Array.isArray(body.checks) ? body.checks : []).map((c) => ({
      guid: c.guid ?? '',
      image: c.image ?? '',
      title: c.title ?? null,
      state: c.state && STATES.includes(c.state) ? c.state : 'pending',
      digest: c.digest ?? null,
      previous_digest: c.previous_digest ?? null,
      findings: (c.findings ?? []).map((f) => ({
        kind: f.kind ?? 'undeclared',
        drift: f.drift ?? false,
        language: f.language ?? null,
        path: f.path ?? null,
        declared_version: f.declared_version ?? null,
        found_version: f.found_version ?? null,
        message: f.message ?? '',
      })),
      unreadable: c.unreadable ?? null,
      checked_time: c.checked_time ?? null,
      state_changed_time: c.state_changed_time ?? null,
      revision: c.revision ?? 0,
    })),
  };
}
