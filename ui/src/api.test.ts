import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError, parseError, requestHeaders, setCsrfToken, setUnauthorizedHandler } from './api';

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
