import { afterEach, describe, expect, it, vi } from 'vitest';
import { checksFrom, examineImage, getChecks, refreshChecks, setCsrfToken } from './api';
import { byGuid, checkSummary, needsAttention, shortDigest } from './checks';
import type { EnvironmentCheck } from './types';

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

afterEach(() => {
  vi.unstubAllGlobals();
  setCsrfToken(null);
});

const drifted: EnvironmentCheck = {
  guid: 'g-1',
  image: '127.0.0.1:5000/python:3.12',
  title: 'Python 3.12',
  state: 'drift',
  digest: 'sha256:4f2a9c0e11d8b7a6c5d4e3f2',
  previous_digest: null,
  findings: [
    { kind: 'version_mismatch', drift: true, language: 'python', path: '/opt/python/3.12.4/bin/python3', declared_version: '3.12.4', found_version: '3.11.2', message: 'Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.2' },
    { kind: 'missing', drift: true, language: 'r', path: '/opt/R/4.4.1/bin/R', declared_version: '4.4.1', found_version: null, message: 'R 4.4.1 is declared at /opt/R/4.4.1/bin/R, which is not in the image' },
    { kind: 'undeclared', drift: false, language: 'quarto', path: '/opt/quarto/bin/quarto', declared_version: null, found_version: '1.5.57', message: 'the image has Quarto 1.5.57 at /opt/quarto/bin/quarto, which the definition does not declare' },
  ],
  unreadable: null,
  checked_time: '2026-12-06T12:00:00Z',
  state_changed_time: '2026-12-06T12:00:00Z',
  revision: 3,
};

describe('checks in words', () => {
  it('sums a check up by its first drift, or why the image is unreadable', () => {
    expect(checkSummary(drifted)).toBe('Python at /opt/python/3.12.4/bin/python3 is declared as 3.12.4 but the image has 3.11.2 (and 1 more)');
    expect(checkSummary({ ...drifted, state: 'unreadable', findings: [], unreadable: { kind: 'not_found', message: 'the tag 3.12 was not found' } })).toBe('the tag 3.12 was not found');
    expect(checkSummary({ ...drifted, state: 'ok', findings: [] })).toBe('Every declared installation is in the image with the declared version.');
  });
  it('says which states need attention and shortens digests as people compare them', () => {
    expect(['pending', 'ok', 'drift', 'unreadable'].map((s) => needsAttention(s as EnvironmentCheck['state']))).toEqual([false, false, true, true]);
    expect(shortDigest('sha256:4f2a9c0e11d8b7a6c5d4e3f2')).toBe('4f2a9c0e11d8');
    expect(shortDigest(null)).toBe('');
    expect(byGuid([drifted]).get('g-1')?.title).toBe('Python 3.12');
  });
});

describe('the checks answer', () => {
  it('is read leniently: an unknown state is pending, missing lists are empty', () => {
    const page = checksFrom({ checks: [{ guid: 'g', state: 'exploded' as never, findings: null }], interval_seconds: null });
    expect(page).toEqual({
      interval_seconds: 0,
      checks: [{ guid: 'g', image: '', title: null, state: 'pending', digest: null, previous_digest: null, findings: [], unreadable: null, checked_time: null, state_changed_time: null, revision: 0 }],
    });
    expect(checksFrom({}).checks).toEqual([]);
  });
  it('is null when the gateway has no image examiner (503) or the caller may not read it (403)', async () => {
    for (const status of [503, 403]) {
      vi.stubGlobal('fetch', vi.fn(async () => json(status, { code: 1, error: 'this gateway has no image examiner: set examiner.url', payload: null })));
      expect(await getChecks()).toBeNull();
    }
    vi.stubGlobal('fetch', vi.fn(async () => json(500, { code: 1, error: 'boom', payload: null })));
    await expect(getChecks()).rejects.toThrow('boom');
  });
  it('asks for a round of checks and for an examination with the CSRF token', async () => {
    setCsrfToken('tok');
    const fetch = vi.fn(async (url: string) => (url.endsWith('/checks/refresh') ? json(200, { checks: [drifted] }) : json(200, { examination: {}, definition: {} })));
    vi.stubGlobal('fetch', fetch);
    expect((await refreshChecks())[0].state).toBe('drift');
    await examineImage('127.0.0.1:5000/python:3.12');
    await examineImage('127.0.0.1:5000/python:3.12', 'linux/arm64');
    const calls = fetch.mock.calls as unknown as [string, RequestInit][];
    expect(calls.map(([u, i]) => `${i.method} ${u}`)).toEqual([
      'POST /__api__/execenv/v1/checks/refresh',
      'POST /__api__/execenv/v1/images/examine',
      'POST /__api__/execenv/v1/images/examine',
    ]);
    expect((calls[1][1].headers as Record<string, string>)['X-CSRF-Token']).toBe('tok');
    expect(calls[1][1].body).toBe('{"image":"127.0.0.1:5000/python:3.12"}');
    expect(calls[2][1].body).toBe('{"image":"127.0.0.1:5000/python:3.12","platform":"linux/arm64"}');
  });
});
