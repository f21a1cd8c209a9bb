import { describe, expect, it } from 'vitest';
import { changesQuery, environmentsQuery, toRfc3339 } from './query';

describe('environmentsQuery', () => {
  it('is empty for the defaults', () => {
    expect(environmentsQuery({})).toBe('');
    expect(environmentsQuery({ search: '  ', sort: 'title', order: 'asc', page_size: 50, page_token: '' })).toBe('');
  });
  it('sends search, filters, sort and the page token', () => {
    const q = environmentsQuery({ search: ' py 3.11 ', language: 'python', version: '3.11', matching: 'exact', managed: 'false', sort: 'updated', order: 'desc', page_token: 'abc=' });
    const p = new URLSearchParams(q.slice(1));
    expect(q.startsWith('?')).toBe(true);
    expect(p.get('search')).toBe('py 3.11');
    expect(p.get('language')).toBe('python');
    expect(p.get('version')).toBe('3.11');
    expect(p.get('matching')).toBe('exact');
    expect(p.get('managed')).toBe('false');
    expect(p.get('sort')).toBe('updated');
    expect(p.get('order')).toBe('desc');
    expect(p.get('page_token')).toBe('abc=');
  });
  it('sends a version only with a language', () => {
    expect(environmentsQuery({ version: '3.11' })).toBe('');
    expect(environmentsQuery({ language: 'r', version: '4' })).toBe('?language=r&version=4');
  });
  it('encodes what it sends', () => {
    expect(environmentsQuery({ search: 'a&b=c' })).toBe('?search=a%26b%3Dc');
  });
});

describe('changesQuery', () => {
  it('converts times to RFC 3339 UTC', () => {
    expect(toRfc3339('2026-11-01T00:00:00Z')).toBe('2026-11-01T00:00:00Z');
    expect(toRfc3339('')).toBe('');
    expect(toRfc3339('not a time')).toBe('');
    const q = changesQuery({ environment_guid: 'g', since: '2026-11-01T00:00:00Z', page_size: 100 });
    expect(q).toBe('?environment_guid=g&since=2026-11-01T00%3A00%3A00Z&page_size=100');
  });
});
