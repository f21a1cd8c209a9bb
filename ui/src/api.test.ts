import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError, contentPath, getInstances, instancesFrom, launches, launchesPath, parseError, requestHeaders, setCsrfToken, setUnauthorizedHandler } from './api';

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

afterEach(() => {
  vi.unstubAllGlobals();
  setCsrfToken(null);
  setUnauthorizedHandler(null);
});

describe('CSRF header', () => {
  it('is sent on mutating methods only', () => {
    setCsrfToken('tok');
    expect(requestHeaders('GET', false)['X-CSRF-Token']).toBeUndefined();
    expect(requestHeaders('HEAD', false)['X-CSRF-Token']).toBeUndefined();
    expect(requestHeaders('POST', true)['X-CSRF-Token']).toBe('tok');
    expect(requestHeaders('put', true)['X-CSRF-Token']).toBe('tok');
    expect(requestHeaders('DELETE', false)['X-CSRF-Token']).toBe('tok');
    expect(requestHeaders('POST', true)['Content-Type']).toBe('application/json');
  });
  it('goes out with fetch, with the cookie and never an Authorization header', async () => {
    setCsrfToken('tok-1');
    const fetch = vi.fn(async () => json(201, { guid: 'g' }));
    vi.stubGlobal('fetch', fetch);
    await api.post('/__api__/v1/environments', { name: 'img' });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/__api__/v1/environments');
    expect(init.credentials).toBe('same-origin');
    const headers = init.headers as Record<string, string>;
    expect(headers['X-CSRF-Token']).toBe('tok-1');
    expect(headers.Authorization).toBeUndefined();
    expect(init.body).toBe('{"name":"img"}');
  });
});

describe('errors', () => {
  it('parses Connect error bodies with violations', async () => {
    const e = await parseError(json(400, { code: 174, error: 'invalid installation', payload: { violations: [{ field: 'python.installations[0].version', description: 'not a version' }] } }));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(400);
    expect(e.code).toBe(174);
    expect(e.message).toBe('invalid installation');
    expect(e.violations).toEqual([{ field: 'python.installations[0].version', description: 'not a version' }]);
  });
  it('copes with a payload of null and with non-JSON bodies', async () => {
    const a = await parseError(json(403, { code: 22, error: 'forbidden', payload: null }));
    expect(a.violations).toEqual([]);
    const b = await parseError(new Response('Bad gateway', { status: 502, statusText: 'Bad Gateway' }));
    expect(b.status).toBe(502);
    expect(b.message).toBe('Bad gateway');
    expect(b.code).toBeNull();
  });
  it('reports a 401 to the session, except when quiet', async () => {
    const onAuth = vi.fn();
    setUnauthorizedHandler(onAuth);
    vi.stubGlobal('fetch', vi.fn(async () => json(401, { code: 30, error: 'no session', payload: null })));
    await expect(api.get('/__api__/v1/user')).rejects.toMatchObject({ status: 401, code: 30 });
    expect(onAuth).toHaveBeenCalledTimes(1);
  });
  it('answers undefined for 204', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(null, { status: 204 })));
    await expect(api.del('/x')).resolves.toBeUndefined();
  });
});

describe('launches', () => {
  it('puts only the filters that are set into the query', () => {
    expect(launchesPath()).toBe('/__api__/execenv/v1/launches');
    expect(launchesPath({ state: '', kind: 'interactive', content_guid: ' ' })).toBe('/__api__/execenv/v1/launches?kind=interactive');
    expect(launchesPath({ state: 'pending,running,ready', kind: 'run', content_guid: '2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d' })).toBe(
      '/__api__/execenv/v1/launches?state=pending%2Crunning%2Cready&kind=run&content_guid=2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d',
    );
  });
  it('stops an interactive launch with a POST to its cancel, carrying the CSRF token', async () => {
    setCsrfToken('tok-2');
    const fetch = vi.fn(async () => json(200, { id: 'app-2a4b-x1', kind: 'interactive', state: 'cancelled' }));
    vi.stubGlobal('fetch', fetch);
    await expect(launches.cancel('app-2a4b/x1')).resolves.toMatchObject({ state: 'cancelled' });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/__api__/execenv/v1/launches/app-2a4b%2Fx1/cancel');
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok-2');
  });
});

describe('instances', () => {
  const body = {
    idle_timeout_s: 300,
    instances: [
      {
        content_guid: '2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d',
        launch_id: 'app-2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d-mj3k2',
        bundle: '1',
        state: 'ready',
        address: '127.0.0.1:4321',
        cold_start_ms: 2345,
        requests: 12,
        websockets: 0,
        last_request_time: '2026-12-06T14:00:00Z',
        idle_stop_time: '2026-12-06T14:05:00Z',
      },
    ],
    totals: { cold_starts: 3, idle_stops: 1, requests: 40, request_p50_ms: 3.1, request_p99_ms: 20.5 },
  };
  it('reads the gateway’s instances', async () => {
    const fetch = vi.fn(async () => json(200, body));
    vi.stubGlobal('fetch', fetch);
    await expect(getInstances()).resolves.toEqual(body);
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/__api__/execenv/v1/instances');
  });
  it('answers null for a viewer (403) and a gateway without the route (404), so the page leaves the summary out', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(403, { code: 22, error: 'viewers may not list instances', payload: null })));
    await expect(getInstances()).resolves.toBeNull();
    vi.stubGlobal('fetch', vi.fn(async () => json(404, { code: 4, error: 'no route', payload: null })));
    await expect(getInstances()).resolves.toBeNull();
  });
  it('passes other failures on', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(502, { code: 2, error: 'the launcher cannot be reached', payload: null })));
    await expect(getInstances()).rejects.toMatchObject({ status: 502, message: 'the launcher cannot be reached' });
  });
  it('reads what the gateway leaves out as zero, null or empty', () => {
    expect(instancesFrom({ instances: [{ content_guid: 'g', state: 'ready' }], totals: null })).toEqual({
      idle_timeout_s: 0,
      instances: [
        { content_guid: 'g', launch_id: '', bundle: '', state: 'ready', address: '', cold_start_ms: null, requests: 0, websockets: 0, last_request_time: null, idle_stop_time: null },
      ],
      totals: { cold_starts: 0, idle_stops: 0, requests: 0, request_p50_ms: null, request_p99_ms: null },
    });
  });
  it('names where a content is served', () => {
    expect(contentPath('2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d')).toBe('/content/2a4b6c8d-0e1f-4a3b-8c5d-7e9f1a2b3c4d/');
  });
});
