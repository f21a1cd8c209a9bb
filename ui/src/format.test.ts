import { describe, expect, it } from 'vitest';
import { accessForMe, accessSummary, coldStart, coldStartStats, formatDuration, formatLatency, formatTime, formatUntil, launchDurations, launchNotice, median, plural } from './format';
import { diffFields } from './activity';

describe('formatDuration', () => {
  it.each([
    [null, '—'],
    [-5, '—'],
    [0, '0 ms'],
    [850, '850 ms'],
    [1000, '1 s'],
    [1500, '1.5 s'],
    [12_400, '12 s'],
    [60_000, '1 min'],
    [184_000, '3 min 4 s'],
    [3_600_000, '1 h'],
    [7_500_000, '2 h 5 min'],
    [97_200_000, '1 d 3 h'],
  ])('%s ms → %s', (ms, text) => {
    expect(formatDuration(ms as number | null)).toBe(text);
  });
});

describe('launchDurations', () => {
  it('measures waiting and running, up to now while it runs', () => {
    const l = { created_time: '2026-01-01T00:00:00Z', started_time: '2026-01-01T00:00:02Z', finished_time: null };
    expect(launchDurations(l, Date.parse('2026-01-01T00:00:12Z'))).toEqual({ waited: 2000, ran: 10000 });
    expect(launchDurations({ ...l, finished_time: '2026-01-01T00:00:05Z' })).toEqual({ waited: 2000, ran: 3000 });
    expect(launchDurations({ created_time: '2026-01-01T00:00:00Z', started_time: null, finished_time: null }, Date.parse('2026-01-01T00:01:00Z'))).toEqual({ waited: 60000, ran: null });
  });
});

describe('formatTime and accessSummary', () => {
  it('formats in UTC', () => {
    expect(formatTime('2026-03-02T10:15:04.123456Z')).toBe('2026-03-02 10:15:04 UTC');
    expect(formatTime(null)).toBe('—');
  });
  it('summarises access', () => {
    expect(accessSummary([])).toBe('Everyone');
    expect(accessSummary(undefined)).toBe('Everyone');
    expect(accessSummary([{ guid: '1', user_guid: 'u', group_guid: null }, { guid: '2', user_guid: null, group_guid: 'g' }, { guid: '3', user_guid: null, group_guid: 'h' }])).toBe('1 user, 2 groups');
  });
  it('diffs the fields of a change', () => {
    expect(diffFields({ title: 'a', matching: 'any', updated_time: 'x' }, { title: 'b', matching: 'any', updated_time: 'y' })).toEqual([{ field: 'title', before: 'a', after: 'b' }]);
  });
});

describe('accessForMe', () => {
  const me = '11111111-2222-4333-8444-555555555555';
  const user = (g: string) => ({ guid: `p-${g}`, user_guid: g, group_guid: null });
  const group = (g: string) => ({ guid: `p-${g}`, user_guid: null, group_guid: g });
  it('says everyone, or how many and whether through the user or a group, never a guid', () => {
    expect(accessForMe([], me)).toBe('Everyone');
    expect(accessForMe(undefined, me)).toBe('Everyone');
    expect(accessForMe([group('g1')], me)).toBe('Restricted: 0 users, 1 group — you through a group');
    expect(accessForMe([user(me.toUpperCase()), group('g1'), group('g2')], me)).toBe('Restricted: 1 user, 2 groups — including you');
    expect(accessForMe([user('someone-else')], me)).toBe('Restricted: 1 user, 0 groups');
  });
});

describe('interactive launches', () => {
  const app = { kind: 'interactive' as const, state: 'ready' as const, reason: 'Ready', message: '' };
  it('measures the cold start from accepted to first ready', () => {
    expect(coldStart({ created_time: '2026-12-06T14:00:00Z', ready_time: '2026-12-06T14:00:02.345Z' })).toBe(2345);
    expect(coldStart({ created_time: '2026-12-06T14:00:00Z', ready_time: null })).toBeNull();
    expect(formatDuration(coldStart({ created_time: '2026-12-06T14:00:00Z', ready_time: '2026-12-06T14:00:02.345Z' }))).toBe('2.3 s');
  });
  it('takes the newest and the median cold start of the launches that were ready', () => {
    const launches = [
      { created_time: '2026-12-06T14:10:00Z', ready_time: '2026-12-06T14:10:01Z' },
      { created_time: '2026-12-06T14:00:00Z', ready_time: '2026-12-06T14:00:04Z' },
      { created_time: '2026-12-06T14:20:00Z', ready_time: null },
      { created_time: '2026-12-06T14:05:00Z', ready_time: '2026-12-06T14:05:02Z' },
    ];
    expect(coldStartStats(launches)).toEqual({ last: 1000, median: 2000 });
    expect(coldStartStats([])).toEqual({ last: null, median: null });
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it.each([
    [null, '—'],
    [0.84, '0.8 ms'],
    [3.1, '3.1 ms'],
    [4, '4 ms'],
    [20.5, '21 ms'],
    [1500, '1.5 s'],
  ])('a latency of %s ms reads %s', (ms, text) => {
    expect(formatLatency(ms)).toBe(text);
  });
  it('says how long until the idle stop', () => {
    const now = Date.parse('2026-12-06T14:00:00Z');
    expect(formatUntil('2026-12-06T14:04:10Z', now)).toBe('4 min 10 s');
    expect(formatUntil('2026-12-06T13:59:59Z', now)).toBe('now');
    expect(formatUntil(null, now)).toBe('—');
  });
  it('counts in words', () => {
    expect(plural(1, 'restart')).toBe('1 restart');
    expect(plural(3, 'restart')).toBe('3 restarts');
    expect(plural(12345, 'request')).toBe('12,345 requests');
  });
  it('puts a restarting or refused app first on its page', () => {
    expect(launchNotice(app)).toBeNull();
    expect(launchNotice({ ...app, state: 'running', reason: 'Restarting', message: 'the app exited with code 1; restart 3 in 4 s' })).toEqual({
      tone: 'warn',
      text: 'The app is restarting (Restarting): the app exited with code 1; restart 3 in 4 s',
    });
    expect(launchNotice({ ...app, state: 'failed', reason: 'RunnerRefused', message: 'the bundle was not built' })).toEqual({
      tone: 'error',
      text: 'The app cannot start (RunnerRefused): the bundle was not built',
    });
    expect(launchNotice({ ...app, kind: 'run', state: 'failed', reason: 'Error' })).toBeNull();
    expect(launchNotice({ ...app, state: 'running', reason: 'Starting' })).toBeNull();
  });
});
